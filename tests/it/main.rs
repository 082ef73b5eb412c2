//! Integration tests: the real server on a random port, a real database (a temporary SQLite file
//! or a fresh PostgreSQL database per test), real HTTP and websockets. Every story runs on both
//! backends: `backend_tests!(name)` turns `async fn name(backend)` into `sqlite::name` and
//! `postgres::name`.

mod helpers;
mod receiver;

mod access;
mod authz;
mod backup;
mod browser;
mod cli;
mod consent;
mod contract;
mod contact_merge;
mod crash;
mod delivery;
mod email;
mod email_people;
mod event_log;
mod hardening;
mod inbox;
mod labels;
mod sms;
mod team;
mod operator_mail;
mod plugin_kind;
mod telegram;
mod messenger;
mod whatsapp;
mod openapi;
mod privacy;
mod search;
mod routing;
mod scale_out;
mod security;
mod storage;
mod story;
mod upgrade;
mod webhooks;
mod webhook_snippets;
mod widget_look;

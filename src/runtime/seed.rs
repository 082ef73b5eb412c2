//! `omnibridge seed`: fills a tenant with realistic history for benchmarks and trials — web chat
//! channels, agents, contacts (a name and an email address or phone number each, in six
//! languages), conversations spread over the past days with statuses and assignees, and
//! messages back and forth in the contact's language (English, German, French, Spanish,
//! Russian, Japanese) naming products, cities and order numbers.
//!
//! Everything is sealed and indexed as the hub would have done it: data keys per contact, text
//! sealed under them, addresses behind blind indexes; the search index is then built by the
//! same backfill the hub runs at start. Rows are written many per statement with their own
//! creation times, which is what makes a million messages take minutes rather than hours.
//!
//! The same seed gives the same data. The summary names probes — order numbers of messages of
//! known age — so a benchmark (or a person) can search for something it knows is there.

use std::time::Instant;

use omnibridge_channel::{Address, AddressKind};
use uuid::Uuid;

use crate::events::present::fields;
use crate::privacy::{DataKey, Keyring};
use crate::store::seed::{self as rows, SeedChannel, SeedContact, SeedConversation, SeedMessage, SeedOperator};
use crate::store::{self, Db};

/// What to make.
#[derive(Debug, Clone)]
pub struct Plan {
    pub tenant_id: Uuid,
    pub channels: usize,
    pub operators: usize,
    pub contacts: usize,
    pub conversations: usize,
    pub messages: usize,
    /// How far back conversations start.
    pub days: u32,
    pub seed: u64,
    /// Build the search index afterwards.
    pub index: bool,
}

/// A message of known age and a word only it (most likely) holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Probe {
    pub query: String,
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub days_ago: u32,
}

#[derive(Debug, serde::Serialize)]
pub struct Seeded {
    pub tenant_id: Uuid,
    pub channels: usize,
    pub operators: usize,
    pub contacts: usize,
    pub conversations: usize,
    pub messages: usize,
    pub seed_seconds: f64,
    pub index_seconds: f64,
    pub indexed_documents: i64,
    pub index_entries: i64,
    pub probes: Vec<Probe>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{0}")]
    Plan(&'static str),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::privacy::CryptoError),
    #[error(transparent)]
    Index(#[from] crate::events::WorkError),
}

/// A small deterministic generator (SplitMix64): the same seed, the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

struct Language {
    first_names: &'static [&'static str],
    last_names: &'static [&'static str],
    products: &'static [&'static str],
    cities: &'static [&'static str],
    days: &'static [&'static str],
    asks: &'static [&'static str],
    answers: &'static [&'static str],
}

const LANGUAGES: &[(u32, Language)] = &[
    (40, Language {
        first_names: &["Olivia", "Liam", "Emma", "Noah", "Ava", "James", "Sophia", "Lucas", "Mia", "Ethan", "Grace", "Henry"],
        last_names: &["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Walker", "Wright", "Hughes"],
        products: &["walnut desk", "desk lamp", "office chair", "bookshelf", "standing desk", "monitor arm", "coffee table", "bed frame", "wool rug", "floor lamp"],
        cities: &["London", "Manchester", "Dublin", "Edinburgh", "Bristol", "New York", "Toronto", "Sydney"],
        days: &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
        asks: &[
            "Hi, my order {order} still hasn't arrived. Can you check where it is?",
            "The {product} I received is damaged, the box was crushed on one side.",
            "I'd like to return the {product}, it doesn't fit in the room.",
            "Can I change the delivery address for {order} to {city}?",
            "I was charged twice for order {order}, please refund one of the payments.",
            "Do you ship the {product} to {city}? I couldn't find it at checkout.",
            "The tracking link for {order} shows no updates since {day}.",
            "Is the {product} available in another colour? Oak would be perfect.",
            "My invoice for {order} has the wrong company name on it.",
            "Thanks, the replacement {product} arrived today and it looks great!",
        ],
        answers: &[
            "Thanks for reaching out! Order {order} left our warehouse on {day} and should reach {city} soon.",
            "I'm sorry the {product} arrived damaged. We'll send a replacement today at no cost.",
            "I've issued a refund for the duplicate charge on {order}; it appears within five working days.",
            "Yes, we deliver the {product} to {city}. Standard delivery takes three to five working days.",
            "I've corrected the invoice for {order} and emailed you the new copy.",
            "A return label for the {product} is on its way. Please keep the original packaging.",
        ],
    }),
    (15, Language {
        first_names: &["Lukas", "Anna", "Felix", "Lea", "Jonas", "Marie", "Paul", "Sophie", "Jürgen", "Käthe"],
        last_names: &["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schäfer"],
        products: &["Schreibtisch", "Bürostuhl", "Bücherregal", "Stehleuchte", "Couchtisch", "Kleiderschrank", "Teppich"],
        cities: &["Berlin", "München", "Hamburg", "Köln", "Düsseldorf", "Wien", "Zürich"],
        days: &["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"],
        asks: &[
            "Hallo, meine Bestellung {order} ist immer noch nicht angekommen.",
            "Der {product} ist beschädigt angekommen, die Verpackung war eingedrückt.",
            "Ich möchte den {product} zurückgeben, er passt leider nicht.",
            "Können Sie die Lieferadresse für {order} nach {city} ändern?",
            "Mir wurde die Bestellung {order} doppelt berechnet, bitte erstatten Sie eine Zahlung.",
            "Die Sendungsverfolgung für {order} zeigt seit {day} nichts Neues.",
        ],
        answers: &[
            "Danke für Ihre Nachricht! Die Bestellung {order} wurde am {day} nach {city} versendet.",
            "Das tut uns leid. Wir schicken Ihnen heute einen neuen {product}.",
            "Die doppelte Zahlung für {order} haben wir erstattet; sie erscheint in fünf Werktagen.",
            "Ein Rücksendeetikett für den {product} ist unterwegs.",
        ],
    }),
    (10, Language {
        first_names: &["Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Théo"],
        last_names: &["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Lefèvre"],
        products: &["bureau en noyer", "lampe de bureau", "chaise de bureau", "bibliothèque", "table basse", "tapis en laine"],
        cities: &["Paris", "Lyon", "Marseille", "Bordeaux", "Lille", "Bruxelles", "Genève"],
        days: &["lundi", "mardi", "mercredi", "jeudi", "vendredi"],
        asks: &[
            "Bonjour, ma commande {order} n'est toujours pas arrivée.",
            "Le {product} est arrivé abîmé, le carton était écrasé.",
            "Je voudrais retourner le {product}, il ne convient pas.",
            "Pouvez-vous livrer la commande {order} à {city} ?",
            "J'ai été débité deux fois pour la commande {order}.",
        ],
        answers: &[
            "Merci pour votre message ! Votre commande {order} a été expédiée {day} vers {city}.",
            "Désolés pour le {product} abîmé : nous envoyons un remplacement aujourd'hui.",
            "Le remboursement du double paiement de {order} est en cours.",
        ],
    }),
    (10, Language {
        first_names: &["Lucía", "Hugo", "Sofía", "Mateo", "Martina", "Pablo", "Valeria", "Álvaro"],
        last_names: &["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez"],
        products: &["escritorio de nogal", "lámpara de mesa", "silla de oficina", "estantería", "mesa de centro", "alfombra de lana"],
        cities: &["Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Ciudad de México", "Buenos Aires"],
        days: &["lunes", "martes", "miércoles", "jueves", "viernes"],
        asks: &[
            "Hola, mi pedido {order} todavía no ha llegado.",
            "El {product} llegó dañado, la caja estaba aplastada.",
            "Quiero devolver el {product}, no cabe en la habitación.",
            "¿Pueden enviar el pedido {order} a {city}?",
            "Me cobraron dos veces el pedido {order}.",
        ],
        answers: &[
            "¡Gracias por escribirnos! El pedido {order} salió el {day} hacia {city}.",
            "Sentimos lo del {product} dañado; hoy enviamos uno nuevo.",
            "Hemos devuelto el cobro duplicado del pedido {order}.",
        ],
    }),
    (15, Language {
        first_names: &["Александр", "Мария", "Дмитрий", "Анна", "Сергей", "Екатерина", "Иван", "Ольга", "Пётр"],
        last_names: &["Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева", "Козлов", "Новикова"],
        products: &["письменный стол", "настольная лампа", "офисное кресло", "книжный шкаф", "журнальный столик", "шерстяной ковёр"],
        cities: &["Москва", "Санкт-Петербург", "Казань", "Новосибирск", "Екатеринбург", "Алматы"],
        days: &["понедельник", "вторник", "среду", "четверг", "пятницу"],
        asks: &[
            "Здравствуйте, мой заказ {order} до сих пор не пришёл.",
            "{product} пришёл повреждённым, коробка была смята.",
            "Хочу вернуть {product}, он не подошёл.",
            "Можно изменить адрес доставки заказа {order} на {city}?",
            "С меня дважды списали оплату за заказ {order}.",
            "Счёт за заказ {order} выписан на неправильную компанию.",
        ],
        answers: &[
            "Спасибо за обращение! Заказ {order} отправлен в {day} в {city}.",
            "Приносим извинения: сегодня отправим вам новый {product}.",
            "Двойное списание по заказу {order} возвращено, деньги придут в течение пяти дней.",
        ],
    }),
    (10, Language {
        first_names: &["陽翔", "結衣", "蓮", "葵", "湊", "陽菜", "大翔", "さくら"],
        last_names: &["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村"],
        products: &["クルミのデスク", "デスクライト", "オフィスチェア", "本棚", "ローテーブル", "ウールのラグ"],
        cities: &["東京", "大阪", "京都", "横浜", "名古屋", "札幌", "福岡"],
        days: &["月曜日", "火曜日", "水曜日", "木曜日", "金曜日"],
        asks: &[
            "注文{order}がまだ届いていません。確認していただけますか。",
            "{product}が破損して届きました。箱がつぶれていました。",
            "{product}を返品したいです。",
            "注文{order}の配送先を{city}に変更できますか。",
            "注文{order}の代金が二重に請求されています。",
        ],
        answers: &[
            "お問い合わせありがとうございます。ご注文{order}は{day}に{city}へ発送されました。",
            "{product}の破損について申し訳ございません。本日代替品をお送りします。",
            "ご注文{order}の二重請求分を返金いたしました。",
        ],
    }),
];

fn language(rng: &mut Rng) -> &'static Language {
    let total: u32 = LANGUAGES.iter().map(|(w, _)| w).sum();
    let mut roll = (rng.next() % total as u64) as u32;
    for (weight, language) in LANGUAGES {
        if roll < *weight {
            return language;
        }
        roll -= weight;
    }
    &LANGUAGES[0].1
}

fn fill(template: &str, language: &Language, order: &str, rng: &mut Rng) -> String {
    template
        .replace("{order}", order)
        .replace("{product}", rng.pick(language.products))
        .replace("{city}", rng.pick(language.cities))
        .replace("{day}", rng.pick(language.days))
}

/// A UUIDv7 for a moment in the past (microseconds), so ids sort by that time.
fn id_at(micros: i64, rng: &mut Rng) -> Uuid {
    let ms = (micros / 1000).max(0) as u64;
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&rng.next().to_be_bytes());
    random[8..].copy_from_slice(&rng.next().to_be_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
}

const DAY_MICROS: i64 = 86_400_000_000;

/// Seeds the tenant; `progress(done, total)` hears how many messages are written.
pub async fn seed(db: &Db, keyring: &Keyring, plan: &Plan, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Seeded, SeedError> {
    if plan.channels == 0 || plan.contacts == 0 || plan.conversations == 0 || plan.operators == 0 {
        return Err(SeedError::Plan("channels, operators, contacts and conversations must be at least 1"));
    }
    if plan.messages < plan.conversations {
        return Err(SeedError::Plan("every conversation needs a message: --messages must be at least --conversations"));
    }
    let started = Instant::now();
    let mut rng = Rng(plan.seed);
    let now = store::now_micros();
    let oldest = now - plan.days.max(1) as i64 * DAY_MICROS;
    let tenant_id = plan.tenant_id;

    let mut tx = db.begin().await?;
    // The hub's own live chat: the kind that holds its sessions itself.
    let kinds = crate::channels::registry::Kinds::described();
    let kind = kinds
        .all()
        .find(|k| k.capabilities().live_sessions)
        .map(|k| k.name())
        .ok_or(SeedError::Plan("no live chat kind is built in"))?;
    let channel_names: Vec<String> = (1..=plan.channels).map(|i| format!("Website {i}")).collect();
    let channels: Vec<Uuid> = (0..plan.channels).map(|_| id_at(oldest - DAY_MICROS, &mut rng)).collect();
    rows::channels(&mut tx, &channels.iter().zip(&channel_names).map(|(id, name)| SeedChannel { id: *id, tenant_id, kind, name, created_at: oldest - DAY_MICROS }).collect::<Vec<_>>()).await?;
    let operator_names: Vec<(String, String)> = (1..=plan.operators).map(|i| (format!("Agent {i}"), format!("agent{i}.{}@example.com", plan.seed))).collect();
    let operators: Vec<Uuid> = (0..plan.operators).map(|_| id_at(oldest - DAY_MICROS, &mut rng)).collect();
    rows::operators(&mut tx, &operators.iter().zip(&operator_names).map(|(id, (name, email))| SeedOperator { id: *id, tenant_id, name, email, created_at: oldest - DAY_MICROS }).collect::<Vec<_>>()).await?;
    tx.commit().await?;

    // Contacts: each speaks one language and is known by an email address or a phone number.
    struct Person {
        id: Uuid,
        key: DataKey,
        language: &'static Language,
    }
    let mut people = Vec::with_capacity(plan.contacts);
    let mut batch = Vec::new();
    for n in 0..plan.contacts {
        let created = oldest + (rng.next() % (plan.days.max(1) as u64 * DAY_MICROS as u64 / 2)) as i64 - DAY_MICROS;
        let id = id_at(created, &mut rng);
        let language = language(&mut rng);
        let (first, last) = (rng.pick(language.first_names), rng.pick(language.last_names));
        let name = format!("{first} {last}");
        let (key, wrapped, generation) = keyring.new_data_key(tenant_id, id)?;
        let (kind, address) = if rng.below(10) < 6 {
            (AddressKind::Email, format!("customer{n}.{}@example.net", plan.seed))
        } else {
            (AddressKind::Phone, format!("+4915{:02}{:07}", plan.seed % 100, n))
        };
        let address = Address::new(kind, &address);
        batch.push(SeedContact {
            id,
            tenant_id,
            wrapped_key: wrapped,
            generation,
            name: key.seal(fields::CONTACT_NAME, id, &name)?,
            identity_id: id_at(created, &mut rng),
            kind: kind.as_str(),
            address_index: keyring.blind_index(tenant_id, &address),
            address: key.seal(fields::IDENTITY_ADDRESS, id, &address.value)?,
            created_at: created,
        });
        people.push(Person { id, key, language });
        if batch.len() == 2000 {
            let mut tx = db.begin().await?;
            rows::contacts(&mut tx, &batch).await?;
            tx.commit().await?;
            batch.clear();
        }
    }
    let mut tx = db.begin().await?;
    rows::contacts(&mut tx, &batch).await?;
    tx.commit().await?;

    // Conversations over the period, oldest first, each with its messages.
    let mut probes = Vec::new();
    let probe_every = (plan.conversations / 24).max(1);
    let mut written = 0usize;
    let mut conversations = Vec::new();
    let mut messages = Vec::new();
    let span = (now - oldest).max(1) as u64;
    let mut starts: Vec<i64> = (0..plan.conversations).map(|_| oldest + (rng.next() % span) as i64).collect();
    starts.sort_unstable();
    for (c, start) in starts.into_iter().enumerate() {
        // Spread the messages evenly: this conversation's share of what is left.
        let left = plan.conversations - c;
        let count = ((plan.messages - written) / left).max(1);
        let person = &people[rng.below(people.len())];
        let channel = channels[rng.below(channels.len())];
        let conversation_id = id_at(start, &mut rng);
        let order = format!("{}{:06}", ["A", "B", "K", "R"][rng.below(4)], rng.below(1_000_000));
        let order = format!("{}-{}", &order[..1], &order[1..]);
        let mut at = start;
        let assignee = (rng.below(10) < 8).then(|| operators[rng.below(operators.len())]);
        for m in 0..count {
            let inbound = m % 2 == 0;
            let language = person.language;
            let template = if inbound { rng.pick(language.asks) } else { rng.pick(language.answers) };
            let text = fill(template, language, &order, &mut rng);
            let id = id_at(at, &mut rng);
            messages.push(SeedMessage {
                id,
                tenant_id,
                conversation_id,
                contact_id: person.id,
                channel_id: channel,
                inbound,
                author_id: if inbound { None } else { assignee.or(Some(operators[0])) },
                text: person.key.seal(fields::MESSAGE_TEXT, id, &text)?,
                created_at: at.min(now),
            });
            if m == 0 && c % probe_every == 0 {
                probes.push(Probe { query: order.clone(), message_id: id, conversation_id, days_ago: ((now - at) / DAY_MICROS) as u32 });
            }
            at += 60_000_000 * (1 + rng.below(240) as i64);
        }
        let age_days = (now - start) / DAY_MICROS;
        let status = match (age_days, rng.below(10)) {
            (0..=2, 0..=5) => "open",
            (0..=2, 6..=7) => "pending",
            (_, 0) => "open",
            (_, 1) => "pending",
            (_, 2) => "snoozed",
            _ => "resolved",
        };
        conversations.push(SeedConversation { id: conversation_id, tenant_id, contact_id: person.id, channel_id: channel, status, assignee_id: assignee, created_at: start, last_message_at: at.min(now) });
        written += count;
        if messages.len() >= 5000 || c + 1 == plan.conversations {
            let mut tx = db.begin().await?;
            rows::conversations(&mut tx, &conversations).await?;
            rows::messages(&mut tx, &messages).await?;
            tx.commit().await?;
            conversations.clear();
            messages.clear();
            progress(written as u64, plan.messages as u64);
        }
    }
    db.refresh_statistics(&["data_keys", "contacts", "identities", "conversations", "messages"]).await?;
    let seed_seconds = started.elapsed().as_secs_f64();

    let indexing = Instant::now();
    if plan.index {
        store::search::restart_backfill(db).await?;
        let stop = tokio_util::sync::CancellationToken::new();
        crate::search::backfill(db, keyring, 2000, &stop, |done| progress(done.messages, plan.messages as u64)).await?;
    }
    let (indexed_documents, index_entries) = store::search::size(db).await?;
    Ok(Seeded {
        tenant_id,
        channels: plan.channels,
        operators: plan.operators,
        contacts: plan.contacts,
        conversations: plan.conversations,
        messages: written,
        seed_seconds,
        index_seconds: if plan.index { indexing.elapsed().as_secs_f64() } else { 0.0 },
        indexed_documents,
        index_entries,
        probes,
    })
}

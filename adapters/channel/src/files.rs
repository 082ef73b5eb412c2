//! Which files people may exchange through the hub, in one place for every way in and out:
//! programs and scripts never travel (mail filters reject them, and a support chat is no way
//! to hand someone an executable).

/// Whether a file is a program or a script, by its type or its name.
pub fn is_executable(filename: &str, content_type: &str) -> bool {
    const TYPES: &[&str] = &[
        "application/x-msdownload", "application/x-msdos-program", "application/x-executable", "application/x-sh",
        "application/x-bat", "application/java-archive", "application/x-ms-installer", "application/vnd.microsoft.portable-executable",
        "application/javascript", "text/javascript", "application/x-msi",
    ];
    const EXTENSIONS: &[&str] = &["exe", "com", "bat", "cmd", "scr", "pif", "msi", "vbs", "js", "jse", "wsf", "ps1", "jar", "sh", "apk", "dll", "lnk"];
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    TYPES.contains(&content_type.to_ascii_lowercase().as_str()) || EXTENSIONS.contains(&ext.as_str())
}

/// Whether a file name is fit to keep: 1 to 200 characters, no path separators.
pub fn is_plain_filename(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty() && name.chars().count() <= 200 && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    #[test]
    fn programs_are_recognised_by_type_or_name() {
        assert!(super::is_executable("setup.EXE", "application/octet-stream"));
        assert!(super::is_executable("x.bin", "application/x-msdownload"));
        assert!(!super::is_executable("photo.jpg", "image/jpeg"));
        assert!(!super::is_plain_filename("../etc/passwd"));
    }
}

//! The file names inside a zip archive, read from its central directory without unpacking anything: the
//! usual way malware travels past "no .exe attachments" rules is a zip holding one.
//!
//! Bounds: the end-of-directory record is looked for in the last 64 KiB + 22 bytes only (its comment is at
//! most 64 KiB); at most [`MAX_ENTRIES`] entries are read; every offset is checked against the data, so a
//! lying archive gives fewer names, never a panic. Archives inside archives are not opened (that needs
//! decompression, and is where zip bombs live); 7z and RAR are not read.

/// Entries read from one archive.
pub const MAX_ENTRIES: usize = 10_000;

const END_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const ENTRY_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];

fn u16_at(data: &[u8], at: usize) -> Option<usize> {
    data.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
}

fn u32_at(data: &[u8], at: usize) -> Option<usize> {
    data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// The names of the files in a zip archive (empty when `data` is not one).
pub fn zip_names(data: &[u8]) -> Vec<String> {
    let tail_start = data.len().saturating_sub(65_535 + 22);
    let Some(end) = data[tail_start..].windows(4).rposition(|w| w == END_SIGNATURE).map(|i| tail_start + i) else { return Vec::new() };
    let (Some(count), Some(mut at)) = (u16_at(data, end + 10), u32_at(data, end + 16)) else { return Vec::new() };
    let mut names = Vec::new();
    for _ in 0..count.min(MAX_ENTRIES) {
        if data.get(at..at + 4) != Some(&ENTRY_SIGNATURE[..]) {
            break;
        }
        let (Some(name_len), Some(extra_len), Some(comment_len)) = (u16_at(data, at + 28), u16_at(data, at + 30), u16_at(data, at + 32)) else { break };
        let Some(name) = data.get(at + 46..at + 46 + name_len) else { break };
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 46 + name_len + extra_len + comment_len;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip of empty stored files, built by hand.
    fn zip(files: &[&str]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut directory = Vec::new();
        for name in files {
            let offset = body.len() as u32;
            body.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04]);
            body.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            body.extend_from_slice(&(name.len() as u16).to_le_bytes());
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(name.as_bytes());
            directory.extend_from_slice(&ENTRY_SIGNATURE);
            directory.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            directory.extend_from_slice(&(name.len() as u16).to_le_bytes());
            directory.extend_from_slice(&[0; 12]);
            directory.extend_from_slice(&offset.to_le_bytes());
            directory.extend_from_slice(name.as_bytes());
        }
        let at = body.len() as u32;
        let size = directory.len() as u32;
        body.extend_from_slice(&directory);
        body.extend_from_slice(&END_SIGNATURE);
        body.extend_from_slice(&[0, 0, 0, 0]);
        body.extend_from_slice(&(files.len() as u16).to_le_bytes());
        body.extend_from_slice(&(files.len() as u16).to_le_bytes());
        body.extend_from_slice(&size.to_le_bytes());
        body.extend_from_slice(&at.to_le_bytes());
        body.extend_from_slice(&[0, 0]);
        body
    }

    #[test]
    fn names_come_from_the_directory_and_lies_stop_the_reading() {
        assert_eq!(zip_names(&zip(&["readme.txt", "invoice.pdf.exe"])), ["readme.txt", "invoice.pdf.exe"]);
        assert!(zip_names(b"not a zip at all").is_empty());
        let mut lying = zip(&["a.txt"]);
        let n = lying.len();
        lying[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(zip_names(&lying).is_empty());
        let mut truncated = zip(&["a.txt", "b.exe"]);
        let n = truncated.len();
        truncated[n - 12..n - 10].copy_from_slice(&60_000u16.to_le_bytes());
        assert_eq!(zip_names(&truncated).len(), 2, "a count larger than the entries stops at the last one");
    }
}

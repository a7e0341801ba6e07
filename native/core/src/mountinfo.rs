//! Parser for `/proc/<pid>/mountinfo` (proc(5)). Kept apart from its callers
//! because cgroup detection, overlay mounts and mount propagation all read it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountInfoError {
    #[error("line {line}: {problem}")]
    Malformed { line: usize, problem: &'static str },
}

/// One mount as the kernel describes it, with octal escapes (`\040` for a
/// space) already decoded in paths and the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_id: u32,
    pub parent_id: u32,
    /// The directory of the mounted filesystem that is visible at `mount_point`
    /// (not `/` for bind mounts and for cgroup mounts inside a cgroup namespace).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    pub mount_options: Vec<String>,
    /// Tagged fields such as `shared:1` or `master:2`, which carry propagation.
    pub optional_fields: Vec<String>,
    pub fs_type: String,
    pub source: String,
    pub super_options: Vec<String>,
}

/// Parses mountinfo as bytes: mount points may hold bytes that are not UTF-8,
/// and only whitespace and backslashes are escaped by the kernel.
pub fn parse(text: &[u8]) -> Result<Vec<MountInfo>, MountInfoError> {
    text.split(|&byte| byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| {
            parse_line(line).map_err(|problem| MountInfoError::Malformed {
                line: index + 1,
                problem,
            })
        })
        .collect()
}

fn parse_line(line: &[u8]) -> Result<MountInfo, &'static str> {
    let mut fields = line.split(|&byte| byte == b' ');
    let mut next = |name: &'static str| fields.next().ok_or(name);

    let mount_id = parse_number(next("missing mount ID")?).ok_or("mount ID is not a number")?;
    let parent_id = parse_number(next("missing parent ID")?).ok_or("parent ID is not a number")?;
    next("missing major:minor")?;
    let root = PathBuf::from(OsString::from_vec(unescape(next("missing root")?)));
    let mount_point = PathBuf::from(OsString::from_vec(unescape(next("missing mount point")?)));
    let mount_options = split_options(next("missing mount options")?);

    let mut optional_fields = Vec::new();
    loop {
        match next("missing the '-' separator")? {
            b"-" => break,
            field => optional_fields.push(lossy(field)),
        }
    }

    let fs_type = lossy(next("missing filesystem type")?);
    let source = lossy(&unescape(next("missing mount source")?));
    let super_options = split_options(next("missing super options")?);

    Ok(MountInfo {
        mount_id,
        parent_id,
        root,
        mount_point,
        mount_options,
        optional_fields,
        fs_type,
        source,
        super_options,
    })
}

fn parse_number(field: &[u8]) -> Option<u32> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn lossy(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}

fn split_options(field: &[u8]) -> Vec<String> {
    field
        .split(|&byte| byte == b',')
        .filter(|option| !option.is_empty())
        .map(lossy)
        .collect()
}

/// Decodes the kernel's `\ooo` escapes; a backslash not followed by three
/// octal digits is kept as it is rather than rejected.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(field.len());
    let mut rest = field;
    while let Some((&byte, tail)) = rest.split_first() {
        if let Some(value) = octal_escape(byte, tail) {
            decoded.push(value);
            rest = &tail[3..];
        } else {
            decoded.push(byte);
            rest = tail;
        }
    }
    decoded
}

fn octal_escape(byte: u8, tail: &[u8]) -> Option<u8> {
    if byte != b'\\' {
        return None;
    }
    let digits = tail.get(..3)?;
    if !digits.iter().all(|digit| (b'0'..=b'7').contains(digit)) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'));
    u8::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_field_of_a_line_with_propagation_tags() {
        let text = b"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n";
        let mounts = parse(text).expect("valid line");
        assert_eq!(
            mounts,
            vec![MountInfo {
                mount_id: 36,
                parent_id: 35,
                root: PathBuf::from("/mnt1"),
                mount_point: PathBuf::from("/mnt2"),
                mount_options: vec!["rw".into(), "noatime".into()],
                optional_fields: vec!["master:1".into(), "shared:7".into()],
                fs_type: "ext3".into(),
                source: "/dev/root".into(),
                super_options: vec!["rw".into(), "errors=continue".into()],
            }]
        );
    }

    #[test]
    fn decodes_octal_escapes_in_paths() {
        let text = b"40 31 0:50 / /var/lib/with\\040space\\134x rw - tmpfs tmpfs rw\n";
        let mounts = parse(text).expect("valid line");
        assert_eq!(
            mounts[0].mount_point,
            PathBuf::from("/var/lib/with space\\x")
        );
    }

    #[test]
    fn keeps_a_backslash_that_starts_no_escape() {
        assert_eq!(unescape(b"a\\9b\\12"), b"a\\9b\\12".to_vec());
    }

    #[test]
    fn keeps_non_utf8_mount_points_byte_for_byte() {
        let text = b"40 31 0:50 / /mnt/\xff rw - tmpfs tmpfs rw\n";
        let mounts = parse(text).expect("valid line");
        assert_eq!(
            mounts[0].mount_point,
            PathBuf::from(OsString::from_vec(b"/mnt/\xff".to_vec()))
        );
    }

    #[test]
    fn accepts_an_empty_source() {
        let text = b"40 31 0:50 / /mnt rw - tmpfs  rw\n";
        let mounts = parse(text).expect("valid line");
        assert_eq!(mounts[0].fs_type, "tmpfs");
        assert_eq!(mounts[0].source, "");
        assert_eq!(mounts[0].super_options, vec!["rw".to_string()]);
    }

    #[test]
    fn reports_the_line_of_a_truncated_entry() {
        let text = b"36 35 98:0 / / rw - ext4 /dev/root rw\n37 36 0:5 / /dev rw shared:2\n";
        assert_eq!(
            parse(text),
            Err(MountInfoError::Malformed {
                line: 2,
                problem: "missing the '-' separator"
            })
        );
    }

    #[test]
    fn rejects_a_non_numeric_mount_id() {
        assert_eq!(
            parse(b"x 35 98:0 / / rw - ext4 /dev/root rw"),
            Err(MountInfoError::Malformed {
                line: 1,
                problem: "mount ID is not a number"
            })
        );
    }
}

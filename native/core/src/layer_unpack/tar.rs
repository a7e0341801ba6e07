//! Tar headers as layers use them: ustar, GNU long names and links (`L`, `K`)
//! and PAX extended (`x`) and global (`g`) headers. Pure parsing, no I/O, so
//! that each hostile byte pattern can be tested on its own.

use super::LayerUnpackError;

pub(super) const BLOCK: usize = 512;

/// Largest PAX or GNU long-name payload accepted. Such headers are held in
/// memory, so a layer must not choose their size; 1 MiB is Go's
/// `archive/tar` limit, which every layer containerd accepts fits in.
pub(super) const MAX_META_SIZE: u64 = 1 << 20;

/// Inside the kernel's `PATH_MAX` (4096 with its NUL), as every path a
/// container can use must be. Bounding the depth also bounds the recursion
/// of a replaced directory's removal.
const MAX_PATH_LEN: usize = 4095;

/// What a header block announces.
pub(super) enum Header {
    /// A header that describes the next one; `size` bytes of payload follow.
    Meta {
        kind: MetaKind,
        size: u64,
    },
    Entry(RawEntry),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MetaKind {
    PaxLocal,
    PaxGlobal,
    LongName,
    LongLink,
}

/// An entry header's fields before extended headers are applied.
pub(super) struct RawEntry {
    typeflag: u8,
    name: Vec<u8>,
    linkname: Vec<u8>,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: i64,
    devmajor: u32,
    devminor: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mtime {
    pub seconds: i64,
    pub nanoseconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    HardLink { target: Vec<u8> },
    Symlink { target: Vec<u8> },
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
    Directory,
    Fifo,
}

/// One entry with its extended headers applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// As the archive spells it; [`normalize`] checks it.
    pub path: Vec<u8>,
    pub kind: Kind,
    /// Bytes of content that follow the header (before padding): the file's
    /// size for regular files, 0 for every header-only type.
    pub size: u64,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Mtime,
    /// `SCHILY.xattr.<name>` records, in archive order, one per name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Whether the block is all zeros, which marks the end of the archive.
pub(super) fn is_zero_block(block: &[u8; BLOCK]) -> bool {
    block.iter().all(|&byte| byte == 0)
}

/// Parses a header block. The error text says what is wrong; the caller
/// adds where.
pub(super) fn parse_header(block: &[u8; BLOCK]) -> Result<Header, String> {
    if !checksum_matches(block)? {
        return Err("header checksum mismatch".to_owned());
    }
    let typeflag = block[156];
    let size = parse_number(&block[124..136], "size")?;
    let size = u64::try_from(size).map_err(|_| "negative size".to_owned())?;
    let meta = match typeflag {
        b'x' => Some(MetaKind::PaxLocal),
        b'g' => Some(MetaKind::PaxGlobal),
        b'L' => Some(MetaKind::LongName),
        b'K' => Some(MetaKind::LongLink),
        _ => None,
    };
    if let Some(kind) = meta {
        if size > MAX_META_SIZE {
            return Err(format!(
                "extended header of {size} bytes, more than the {MAX_META_SIZE} allowed"
            ));
        }
        return Ok(Header::Meta { kind, size });
    }

    let mut name = c_string(&block[0..100]).to_vec();
    // Only POSIX ustar has a prefix field; GNU's "ustar  \0" keeps other
    // data there.
    if &block[257..263] == b"ustar\0" {
        let prefix = c_string(&block[345..500]);
        if !prefix.is_empty() {
            let mut joined = prefix.to_vec();
            joined.push(b'/');
            joined.extend_from_slice(&name);
            name = joined;
        }
    }
    let mode = parse_number(&block[100..108], "mode")?;
    Ok(Header::Entry(RawEntry {
        typeflag,
        name,
        linkname: c_string(&block[157..257]).to_vec(),
        // The type bits some writers add live in the typeflag already.
        mode: (mode & 0o7777) as u32,
        uid: non_negative(parse_number(&block[108..116], "uid")?, "uid")?,
        gid: non_negative(parse_number(&block[116..124], "gid")?, "gid")?,
        size,
        mtime: parse_number(&block[136..148], "mtime")?,
        devmajor: device_number(&block[329..337], "devmajor")?,
        devminor: device_number(&block[337..345], "devminor")?,
    }))
}

/// The stored sum is of all bytes with the checksum field read as spaces;
/// old writers summed signed bytes, which readers have always accepted too.
fn checksum_matches(block: &[u8; BLOCK]) -> Result<bool, String> {
    let stored = parse_number(&block[148..156], "checksum")?;
    let mut unsigned: i64 = 0;
    let mut signed: i64 = 0;
    for (index, &byte) in block.iter().enumerate() {
        let byte = if (148..156).contains(&index) {
            b' '
        } else {
            byte
        };
        unsigned += i64::from(byte);
        signed += i64::from(byte as i8);
    }
    Ok(stored == unsigned || stored == signed)
}

/// The bytes before the first NUL.
fn c_string(field: &[u8]) -> &[u8] {
    match field.iter().position(|&byte| byte == 0) {
        Some(end) => &field[..end],
        None => field,
    }
}

/// A numeric field: octal text, or GNU's base-256 when the first byte has its
/// high bit set (sizes past 8 GiB, large ids, times before 1970).
fn parse_number(field: &[u8], what: &str) -> Result<i64, String> {
    let invalid = || format!("invalid {what} field {:?}", String::from_utf8_lossy(field));
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            // Big-endian two's complement after the marker bit. A negative
            // number is read through an inverted mask, since -a-1 == !a.
            let mask = if first & 0x40 != 0 { 0xff } else { 0x00 };
            let mut value: u64 = 0;
            for (index, &byte) in field.iter().enumerate() {
                let byte = if index == 0 {
                    (byte ^ mask) & 0x7f
                } else {
                    byte ^ mask
                };
                if value >> 56 != 0 {
                    return Err(invalid());
                }
                value = value << 8 | u64::from(byte);
            }
            let value = i64::try_from(value).map_err(|_| invalid())?;
            Ok(if mask == 0xff { !value } else { value })
        }
        _ => {
            // Writers pad with NULs or spaces on either side.
            let text = trim(field, |byte| byte == b' ' || byte == 0);
            if text.is_empty() {
                return Ok(0);
            }
            let mut value: i64 = 0;
            for &digit in text {
                if !(b'0'..=b'7').contains(&digit) {
                    return Err(invalid());
                }
                value = value
                    .checked_mul(8)
                    .and_then(|value| value.checked_add(i64::from(digit - b'0')))
                    .ok_or_else(invalid)?;
            }
            Ok(value)
        }
    }
}

fn trim(bytes: &[u8], strip: impl Fn(u8) -> bool) -> &[u8] {
    let start = bytes.iter().position(|&b| !strip(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !strip(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn non_negative(value: i64, what: &str) -> Result<u64, String> {
    u64::try_from(value).map_err(|_| format!("negative {what}"))
}

fn device_number(field: &[u8], what: &str) -> Result<u32, String> {
    let value = parse_number(field, what)?;
    u32::try_from(value).map_err(|_| format!("{what} {value} out of range"))
}

/// One `key=value` record of a PAX extended header.
pub(super) type PaxRecord = (Vec<u8>, Vec<u8>);

/// Splits a PAX extended header into its `"<length> <key>=<value>\n"`
/// records. Values are bytes: `SCHILY.xattr.*` values are often binary.
pub(super) fn parse_pax(mut data: &[u8]) -> Result<Vec<PaxRecord>, String> {
    let mut records = Vec::new();
    while !data.is_empty() {
        let malformed = || {
            let shown = &data[..data.len().min(40)];
            format!("malformed PAX record {:?}", String::from_utf8_lossy(shown))
        };
        let space = data
            .iter()
            .position(|&byte| byte == b' ')
            .ok_or_else(malformed)?;
        let digits = &data[..space];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 10 {
            return Err(malformed());
        }
        let length: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(malformed)?;
        if length <= space + 1 || length > data.len() || data[length - 1] != b'\n' {
            return Err(malformed());
        }
        let body = &data[space + 1..length - 1];
        let equals = body
            .iter()
            .position(|&byte| byte == b'=')
            .ok_or_else(malformed)?;
        if equals == 0 {
            return Err(malformed());
        }
        records.push((body[..equals].to_vec(), body[equals + 1..].to_vec()));
        data = &data[length..];
    }
    Ok(records)
}

/// The PAX keywords crion applies, accumulated from global headers and then
/// from the entry's own header. `None` means "take the ustar field".
#[derive(Debug, Clone, Default)]
pub(super) struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<Mtime>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Any `GNU.sparse.*` keyword: the content is a sparse map, not the file.
    sparse: bool,
}

const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

impl Pax {
    /// Applies records in order. An empty value deletes the keyword, including
    /// a global value, as POSIX specifies.
    pub fn apply(&mut self, records: &[PaxRecord]) -> Result<(), String> {
        for (key, value) in records {
            let set = !value.is_empty();
            match key.as_slice() {
                b"path" => self.path = set.then(|| value.clone()),
                b"linkpath" => self.linkpath = set.then(|| value.clone()),
                b"size" => self.size = set.then(|| pax_decimal(value, "size")).transpose()?,
                b"uid" => self.uid = set.then(|| pax_id(value, "uid")).transpose()?,
                b"gid" => self.gid = set.then(|| pax_id(value, "gid")).transpose()?,
                b"mtime" => self.mtime = set.then(|| pax_time(value)).transpose()?,
                _ if key.starts_with(b"GNU.sparse.") => self.sparse = true,
                _ if key.starts_with(XATTR_PREFIX) => {
                    let name = &key[XATTR_PREFIX.len()..];
                    if name.is_empty() || name.contains(&0) {
                        return Err(format!(
                            "invalid xattr name in PAX record {:?}",
                            String::from_utf8_lossy(key)
                        ));
                    }
                    self.xattrs.retain(|(existing, _)| existing != name);
                    if set {
                        self.xattrs.push((name.to_vec(), value.clone()));
                    }
                }
                // atime, ctime, uname, gname, comment, charset, ACLs: the
                // layer format gives them no meaning crion applies.
                _ => {}
            }
        }
        Ok(())
    }
}

fn pax_decimal(value: &[u8], what: &str) -> Result<u64, String> {
    std::str::from_utf8(value)
        .ok()
        .filter(|text| text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("invalid PAX {what} {:?}", String::from_utf8_lossy(value)))
}

fn pax_id(value: &[u8], what: &str) -> Result<u32, String> {
    let id = pax_decimal(value, what)?;
    checked_id(id, what)
}

/// `-1` (`u32::MAX`) is chown's "leave unchanged", never an owner.
fn checked_id(id: u64, what: &str) -> Result<u32, String> {
    u32::try_from(id)
        .ok()
        .filter(|&id| id != u32::MAX)
        .ok_or_else(|| format!("{what} {id} out of range"))
}

/// `[-]seconds[.fraction]`; digits past nanoseconds are dropped.
fn pax_time(value: &[u8]) -> Result<Mtime, String> {
    let invalid = || format!("invalid PAX mtime {:?}", String::from_utf8_lossy(value));
    let (negative, unsigned) = match value.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, fraction) = match unsigned.iter().position(|&byte| byte == b'.') {
        Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
        None => (unsigned, &[][..]),
    };
    if whole.is_empty() || !fraction.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let seconds = i64::try_from(pax_decimal(whole, "mtime").map_err(|_| invalid())?)
        .map_err(|_| invalid())?;
    let mut nanoseconds: u32 = 0;
    for position in 0..9 {
        let digit = fraction.get(position).map_or(0, |digit| digit - b'0');
        nanoseconds = nanoseconds * 10 + u32::from(digit);
    }
    if !negative {
        return Ok(Mtime {
            seconds,
            nanoseconds,
        });
    }
    // -1.25 is 1.25 s before the epoch: -2 s plus 0.75 s.
    if nanoseconds == 0 {
        Ok(Mtime {
            seconds: -seconds,
            nanoseconds: 0,
        })
    } else {
        Ok(Mtime {
            seconds: -seconds - 1,
            nanoseconds: 1_000_000_000 - nanoseconds,
        })
    }
}

/// Extended headers seen since the last entry, for the next one.
#[derive(Default)]
pub(super) struct Pending {
    pub long_name: Option<Vec<u8>>,
    pub long_link: Option<Vec<u8>>,
    pub pax: Option<Vec<PaxRecord>>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }

    /// Records a meta header's payload. A later header of the same kind
    /// replaces an earlier one, as in Go's `archive/tar`; a global header
    /// updates `global` for every entry that follows.
    pub fn record(
        &mut self,
        kind: MetaKind,
        payload: &[u8],
        global: &mut Pax,
    ) -> Result<(), String> {
        match kind {
            MetaKind::LongName => self.long_name = Some(c_string(payload).to_vec()),
            MetaKind::LongLink => self.long_link = Some(c_string(payload).to_vec()),
            MetaKind::PaxLocal => self.pax = Some(parse_pax(payload)?),
            MetaKind::PaxGlobal => global.apply(&parse_pax(payload)?)?,
        }
        Ok(())
    }
}

/// Applies extended headers to an entry header. Types a layer cannot hold
/// are refused here, before their content is read.
pub(super) fn resolve_entry(
    raw: RawEntry,
    pending: Pending,
    global: &Pax,
) -> Result<Entry, LayerUnpackError> {
    let mut pax = global.clone();
    if let Some(records) = &pending.pax {
        pax.apply(records).map_err(LayerUnpackError::Corrupt)?;
    }
    let path = pax.path.or(pending.long_name).unwrap_or(raw.name);
    let link = pax.linkpath.or(pending.long_link).unwrap_or(raw.linkname);
    let corrupt = |problem: String| {
        LayerUnpackError::Corrupt(format!(
            "entry {:?}: {problem}",
            String::from_utf8_lossy(&path)
        ))
    };
    if path.contains(&0) || link.contains(&0) {
        return Err(corrupt("NUL byte in a path".to_owned()));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(corrupt(format!(
            "path of {} bytes, longer than PATH_MAX",
            path.len()
        )));
    }
    let unsupported = |typeflag: String| LayerUnpackError::UnsupportedEntry {
        path: String::from_utf8_lossy(&path).into_owned(),
        typeflag,
    };
    if pax.sparse {
        return Err(unsupported("PAX sparse file (GNU.sparse.*)".to_owned()));
    }
    let kind = match raw.typeflag {
        // Pre-POSIX archives mark directories with a trailing slash only.
        0 if path.ends_with(b"/") => Kind::Directory,
        b'0' | 0 | b'7' => Kind::File,
        b'1' => Kind::HardLink { target: link },
        b'2' => Kind::Symlink { target: link },
        b'3' => Kind::CharDevice {
            major: raw.devmajor,
            minor: raw.devminor,
        },
        b'4' => Kind::BlockDevice {
            major: raw.devmajor,
            minor: raw.devminor,
        },
        b'5' => Kind::Directory,
        b'6' => Kind::Fifo,
        other => {
            let shown = if other.is_ascii_graphic() {
                format!("{:?}", char::from(other))
            } else {
                format!("byte {other}")
            };
            return Err(unsupported(shown));
        }
    };
    // Only regular files carry content; Go's reader, and so containerd,
    // ignore the size field of every other type.
    let size = match kind {
        Kind::File => pax.size.unwrap_or(raw.size),
        _ => 0,
    };
    let uid = match pax.uid {
        Some(uid) => uid,
        None => checked_id(raw.uid, "uid").map_err(corrupt)?,
    };
    let gid = match pax.gid {
        Some(gid) => gid,
        None => checked_id(raw.gid, "gid").map_err(corrupt)?,
    };
    Ok(Entry {
        path,
        kind,
        size,
        mode: raw.mode,
        uid,
        gid,
        mtime: pax.mtime.unwrap_or(Mtime {
            seconds: raw.mtime,
            nanoseconds: 0,
        }),
        xattrs: pax.xattrs,
    })
}

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escape {
    Absolute,
    DotDot,
}

impl Escape {
    pub fn reason(self) -> &'static str {
        match self {
            Escape::Absolute => "the path is absolute",
            Escape::DotDot => "the path has a `..` component",
        }
    }
}

/// The components of an archive path inside the layer. `./` prefixes and
/// `.` or empty components are dropped; an empty result is the layer root.
pub(super) fn normalize(path: &[u8]) -> Result<Vec<&[u8]>, Escape> {
    if path.starts_with(b"/") {
        return Err(Escape::Absolute);
    }
    let mut components = Vec::new();
    for component in path.split(|&byte| byte == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err(Escape::DotDot),
            name => components.push(name),
        }
    }
    Ok(components)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, typeflag: u8, size: u64) -> [u8; BLOCK] {
        let mut block = [0u8; BLOCK];
        block[..name.len()].copy_from_slice(name.as_bytes());
        block[100..108].copy_from_slice(b"0000644\0");
        block[108..116].copy_from_slice(b"0001750\0");
        block[116..124].copy_from_slice(b"0001750\0");
        block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        block[136..148].copy_from_slice(format!("{:011o}\0", 1_700_000_000).as_bytes());
        block[156] = typeflag;
        block[257..265].copy_from_slice(b"ustar\x0000");
        seal(&mut block);
        block
    }

    fn seal(block: &mut [u8; BLOCK]) {
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&byte| u32::from(byte)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    fn entry(block: &[u8; BLOCK]) -> RawEntry {
        match parse_header(block) {
            Ok(Header::Entry(raw)) => raw,
            Ok(Header::Meta { .. }) => panic!("expected an entry header"),
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn reads_the_ustar_fields() {
        let raw = entry(&header("etc/hosts", b'0', 42));
        assert_eq!(raw.name, b"etc/hosts");
        assert_eq!(
            (raw.mode, raw.uid, raw.gid, raw.size),
            (0o644, 1000, 1000, 42)
        );
        assert_eq!(raw.mtime, 1_700_000_000);
    }

    #[test]
    fn joins_the_ustar_prefix_but_not_gnu_fields_in_the_same_place() {
        let mut block = header("name", b'0', 0);
        block[345..351].copy_from_slice(b"prefix");
        seal(&mut block);
        assert_eq!(entry(&block).name, b"prefix/name");

        block[257..265].copy_from_slice(b"ustar  \0");
        seal(&mut block);
        assert_eq!(entry(&block).name, b"name");
    }

    #[test]
    fn a_wrong_checksum_is_refused() {
        let mut block = header("a", b'0', 0);
        block[0] = b'b';
        assert_eq!(
            parse_header(&block).err().as_deref(),
            Some("header checksum mismatch")
        );
    }

    #[test]
    fn a_signed_checksum_is_accepted() {
        let mut block = header("a", b'0', 0);
        block[500] = 0xff;
        block[148..156].fill(b' ');
        let sum: i64 = block.iter().map(|&byte| i64::from(byte as i8)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        assert!(parse_header(&block).is_ok());
    }

    #[test]
    fn numbers_may_be_base_256_and_padded_with_spaces() {
        assert_eq!(parse_number(b" 755 \0", "mode"), Ok(0o755));
        assert_eq!(parse_number(b"\0\0\0\0", "mode"), Ok(0));
        let mut size = [0u8; 12];
        size[0] = 0x80;
        size[7] = 0x02; // 2 << 32: 8 GiB, past what 11 octal digits hold.
        assert_eq!(parse_number(&size, "size"), Ok(2 << 32));
        assert_eq!(parse_number(&[0xff; 12], "mtime"), Ok(-1));
        assert!(parse_number(b"0008", "size").is_err());
    }

    #[test]
    fn meta_headers_larger_than_the_limit_are_refused() {
        let block = header("././@LongLink", b'L', MAX_META_SIZE + 1);
        assert!(
            parse_header(&block)
                .err()
                .is_some_and(|e| e.contains("extended header"))
        );
    }

    #[test]
    fn pax_records_are_split_by_their_length() {
        let records = parse_pax(b"15 path=a\nb/c\n\n21 SCHILY.xattr.k=\x00\x01\n").expect("valid");
        assert_eq!(
            records,
            vec![
                (b"path".to_vec(), b"a\nb/c\n".to_vec()),
                (b"SCHILY.xattr.k".to_vec(), vec![0, 1]),
            ]
        );
        assert!(parse_pax(b"8 path=a\n").is_err());
        assert!(parse_pax(b"x path=a\n").is_err());
        assert!(parse_pax(b"9 =value\n").is_err());
        assert!(parse_pax(b"99 path=a\n").is_err());
    }

    #[test]
    fn pax_mtime_keeps_nanoseconds_and_handles_times_before_1970() {
        let mtime = |text: &str| pax_time(text.as_bytes());
        assert_eq!(
            mtime("1700000000.123456789123"),
            Ok(Mtime {
                seconds: 1_700_000_000,
                nanoseconds: 123_456_789
            })
        );
        assert_eq!(
            mtime("-1.25"),
            Ok(Mtime {
                seconds: -2,
                nanoseconds: 750_000_000
            })
        );
        assert_eq!(
            mtime("5"),
            Ok(Mtime {
                seconds: 5,
                nanoseconds: 0
            })
        );
        assert!(mtime("1.5e3").is_err());
        assert!(mtime(".5").is_err());
    }

    #[test]
    fn local_pax_overrides_global_and_an_empty_value_deletes() {
        let mut global = Pax::default();
        Pending::default()
            .record(
                MetaKind::PaxGlobal,
                b"8 uid=7\n25 SCHILY.xattr.user.a=1\n19 comment=ignored\n",
                &mut global,
            )
            .expect("valid");
        let mut pending = Pending::default();
        pending
            .record(
                MetaKind::PaxLocal,
                b"8 uid=8\n24 SCHILY.xattr.user.a=\n",
                &mut global,
            )
            .expect("valid");
        let resolved =
            resolve_entry(entry(&header("f", b'0', 0)), pending, &global).expect("valid");
        assert_eq!(resolved.uid, 8);
        assert!(resolved.xattrs.is_empty());

        let inherited = resolve_entry(entry(&header("g", b'0', 0)), Pending::default(), &global)
            .expect("valid");
        assert_eq!(inherited.uid, 7);
        assert_eq!(inherited.xattrs, vec![(b"user.a".to_vec(), b"1".to_vec())]);
    }

    #[test]
    fn pax_path_beats_gnu_long_name_which_beats_the_header() {
        let raw = || entry(&header("short", b'0', 0));
        let mut pending = Pending::default();
        pending
            .record(MetaKind::LongName, b"gnu/long\0", &mut Pax::default())
            .expect("valid");
        assert_eq!(
            resolve_entry(raw(), pending, &Pax::default())
                .expect("valid")
                .path,
            b"gnu/long"
        );
        let mut pending = Pending::default();
        pending
            .record(MetaKind::LongName, b"gnu/long\0", &mut Pax::default())
            .expect("valid");
        pending
            .record(MetaKind::PaxLocal, b"14 path=pax/p\n", &mut Pax::default())
            .expect("valid");
        assert_eq!(
            resolve_entry(raw(), pending, &Pax::default())
                .expect("valid")
                .path,
            b"pax/p"
        );
    }

    #[test]
    fn sparse_and_unknown_types_are_unsupported() {
        let unsupported = |typeflag: u8, pax: Option<&[u8]>| {
            let mut pending = Pending::default();
            if let Some(records) = pax {
                pending
                    .record(MetaKind::PaxLocal, records, &mut Pax::default())
                    .expect("valid");
            }
            matches!(
                resolve_entry(entry(&header("f", typeflag, 0)), pending, &Pax::default()),
                Err(LayerUnpackError::UnsupportedEntry { .. })
            )
        };
        assert!(unsupported(b'S', None));
        assert!(unsupported(b'V', None));
        assert!(unsupported(b'D', None));
        assert!(unsupported(b'0', Some(b"22 GNU.sparse.major=1\n")));
        assert!(!unsupported(b'0', None));
    }

    #[test]
    fn header_only_types_have_no_content_whatever_their_size_field() {
        for typeflag in [b'1', b'2', b'3', b'4', b'5', b'6'] {
            let resolved = resolve_entry(
                entry(&header("x", typeflag, 1024)),
                Pending::default(),
                &Pax::default(),
            )
            .expect("valid");
            assert_eq!(resolved.size, 0);
        }
    }

    #[test]
    fn an_old_style_directory_is_a_regular_typeflag_with_a_trailing_slash() {
        let resolved = resolve_entry(
            entry(&header("d/", 0, 0)),
            Pending::default(),
            &Pax::default(),
        )
        .expect("valid");
        assert_eq!(resolved.kind, Kind::Directory);
    }

    #[test]
    fn the_unchanged_owner_id_is_refused() {
        let mut pending = Pending::default();
        pending
            .record(
                MetaKind::PaxLocal,
                b"18 uid=4294967295\n",
                &mut Pax::default(),
            )
            .expect("valid");
        assert!(resolve_entry(entry(&header("f", b'0', 0)), pending, &Pax::default()).is_err());
    }

    #[test]
    fn normalize_strips_dot_components_and_refuses_escapes() {
        assert_eq!(normalize(b"./a//b/./c/"), Ok(vec![&b"a"[..], b"b", b"c"]));
        assert_eq!(normalize(b"./"), Ok(vec![]));
        assert_eq!(normalize(b"/etc/passwd"), Err(Escape::Absolute));
        assert_eq!(normalize(b"a/../../b"), Err(Escape::DotDot));
        assert_eq!(normalize(b".."), Err(Escape::DotDot));
    }
}

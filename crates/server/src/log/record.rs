//! The on-disk record frame: `len u32 | crc32 u32 | payload`, all little-endian.
//!
//! The payload is `offset i64 | timestamp i64 | key_len i32 (-1 = no key) | key | value_len u32 |
//! value | header_count u32 | (name_len u32 | name | value_len u32 | value)*`. The CRC32 covers
//! the payload, so a torn or bit-flipped tail is detected on open and cut off.
//!
//! A null value (a tombstone of a compacted topic) is `value_len = u32::MAX` with no value
//! bytes ([`NULL_VALUE`]). No frame written before tombstones existed has that length (a payload
//! is at most [`MAX_PAYLOAD`]), so every older frame decodes as before.
//!
//! Optional trailer (issue 16, idempotent produce): the first frame of a batch's records in a
//! partition, when the batch came with an `Idempotency-Key`, carries a [`BatchMark`] after the
//! headers: `tag u8 (1) | key_len u8 | key | fingerprint [16] | stored_at i64 | request_len
//! u32 | run_count u32 | (start u32 | len u32)*`. Frames written before it have nothing after
//! the headers and decode as before; decoding a record ignores the trailer, so older servers
//! read newer frames too.

use std::sync::Arc;

use upkafka_protocol::Header;

/// Bytes before the payload: length and CRC.
pub(crate) const FRAME_HEADER: usize = 8;
/// Largest payload we accept when scanning; anything larger is treated as corruption.
pub(crate) const MAX_PAYLOAD: usize = 256 * 1024 * 1024;
/// The `value_len` of a null value (a tombstone).
pub(crate) const NULL_VALUE: u32 = u32::MAX;

/// A record as the log keeps it (in memory) or decodes it (from disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRecord {
    /// Record timestamp, epoch ms.
    pub timestamp: i64,
    /// Key; `None` when the producer sent none.
    pub key: Option<String>,
    /// Value text; `None` is a null value, a tombstone: on a compacted topic it deletes its
    /// key once `delete_retention_ms` has passed.
    pub value: Option<String>,
    /// Headers in order.
    pub headers: Vec<Header>,
}

impl StoredRecord {
    /// Bytes this record counts against a response's byte budget (key, value and headers).
    pub fn size(&self) -> usize {
        upkafka_protocol::record_size(self.key.as_deref(), self.value_text(), &self.headers)
    }

    /// The value as the API shows it: a null value (a tombstone) reads as `""`.
    pub fn value_text(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }

    /// Whether this is a tombstone (a null value).
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}

/// Tag of the [`BatchMark`] trailer.
const MARK_TAG: u8 = 1;

/// What the first frame of a keyed batch's records in one partition carries: enough to
/// rebuild the batch's answer from the log after a restart (see `log::marks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchMark {
    /// The `Idempotency-Key` (1–255 visible ASCII characters), shared with the request's
    /// key rather than copied.
    pub key: Arc<str>,
    /// The batch's fingerprint.
    pub fingerprint: [u8; 16],
    /// When the batch was stored, epoch ms.
    pub stored_at: i64,
    /// Records in the whole request (over all partitions).
    pub request_len: u32,
    /// Request indices of this partition's records of the batch, in offset order, as
    /// `(first index, count)` runs.
    pub runs: Vec<(u32, u32)>,
}

impl BatchMark {
    /// Records of the batch in this partition (the frames this mark covers).
    pub fn records(&self) -> usize {
        self.runs.iter().map(|&(_, n)| n as usize).sum()
    }
}

/// Appends the frame of `record` at `offset` to `buf`; returns the frame length. (The writer
/// uses [`encode_marked`]; this is for tests.)
#[cfg(test)]
pub(crate) fn encode(buf: &mut Vec<u8>, offset: i64, record: &StoredRecord) -> usize {
    encode_marked(buf, offset, record, None)
}

/// [`encode`] with the trailer of `mark`, when given.
pub(crate) fn encode_marked(
    buf: &mut Vec<u8>,
    offset: i64,
    record: &StoredRecord,
    mark: Option<&BatchMark>,
) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER]);
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&record.timestamp.to_le_bytes());
    match &record.key {
        Some(k) => {
            buf.extend_from_slice(&(k.len() as i32).to_le_bytes());
            buf.extend_from_slice(k.as_bytes());
        }
        None => buf.extend_from_slice(&(-1i32).to_le_bytes()),
    }
    match &record.value {
        Some(v) => put_str(buf, v),
        None => buf.extend_from_slice(&NULL_VALUE.to_le_bytes()),
    }
    buf.extend_from_slice(&(record.headers.len() as u32).to_le_bytes());
    for h in &record.headers {
        put_str(buf, &h.key);
        put_str(buf, &h.value);
    }
    if let Some(m) = mark {
        buf.push(MARK_TAG);
        // Keys are at most 255 bytes (checked when the header is parsed).
        let key = &m.key.as_bytes()[..m.key.len().min(255)];
        buf.push(key.len() as u8);
        buf.extend_from_slice(key);
        buf.extend_from_slice(&m.fingerprint);
        buf.extend_from_slice(&m.stored_at.to_le_bytes());
        buf.extend_from_slice(&m.request_len.to_le_bytes());
        buf.extend_from_slice(&(m.runs.len() as u32).to_le_bytes());
        for &(start, len) in &m.runs {
            buf.extend_from_slice(&start.to_le_bytes());
            buf.extend_from_slice(&len.to_le_bytes());
        }
    }
    let payload_len = buf.len() - start - FRAME_HEADER;
    let crc = crc32fast::hash(&buf[start + FRAME_HEADER..]);
    buf[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    buf.len() - start
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Splits a frame header into (payload length, crc).
pub(crate) fn frame_header(h: &[u8; FRAME_HEADER]) -> (usize, u32) {
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    (len, crc)
}

/// Offset and timestamp from the start of a payload (the fields recovery needs).
pub(crate) fn payload_offset_timestamp(payload: &[u8]) -> Option<(i64, i64)> {
    let o = payload.get(0..8)?;
    let t = payload.get(8..16)?;
    Some((
        i64::from_le_bytes(o.try_into().ok()?),
        i64::from_le_bytes(t.try_into().ok()?),
    ))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| "record payload ends early".to_owned())?;
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }
    fn string(&mut self, n: usize) -> Result<String, String> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| "record text is not UTF-8".to_owned())
    }
}

/// The [`BatchMark`] of a payload whose CRC was checked, if it carries one: the record's
/// fields are skipped by their lengths. A trailer this version does not know is ignored.
pub(crate) fn payload_mark(payload: &[u8]) -> Option<BatchMark> {
    let mut r = Reader {
        buf: payload,
        pos: 16,
    };
    let key_len = r.u32().ok()? as i32;
    if key_len > 0 {
        r.take(key_len as usize).ok()?;
    }
    // A null value (a tombstone) has no value bytes.
    let vlen = r.u32().ok()?;
    if vlen != NULL_VALUE {
        r.take(vlen as usize).ok()?;
    }
    for _ in 0..r.u32().ok()? {
        let n = r.u32().ok()? as usize;
        r.take(n).ok()?;
        let n = r.u32().ok()? as usize;
        r.take(n).ok()?;
    }
    if r.take(1).ok()? != [MARK_TAG] {
        return None;
    }
    let klen = r.take(1).ok()?[0] as usize;
    let key = Arc::from(std::str::from_utf8(r.take(klen).ok()?).ok()?);
    let fingerprint: [u8; 16] = r.take(16).ok()?.try_into().ok()?;
    let stored_at = r.i64().ok()?;
    let request_len = r.u32().ok()?;
    let count = r.u32().ok()? as usize;
    let mut runs = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        runs.push((r.u32().ok()?, r.u32().ok()?));
    }
    Some(BatchMark {
        key,
        fingerprint,
        stored_at,
        request_len,
        runs,
    })
}

/// The payload of the frame at the start of `frame`, after checking its CRC, and the frame
/// length.
fn checked_payload(frame: &[u8]) -> Result<(&[u8], usize), String> {
    let head: &[u8; FRAME_HEADER] = frame
        .get(..FRAME_HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or("frame header ends early")?;
    let (len, crc) = frame_header(head);
    let payload = frame
        .get(FRAME_HEADER..FRAME_HEADER + len)
        .ok_or("frame payload ends early")?;
    if crc32fast::hash(payload) != crc {
        return Err("record CRC mismatch".to_owned());
    }
    Ok((payload, FRAME_HEADER + len))
}

/// The fields of a frame before its value, read without copying.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FramePrefix<'a> {
    /// The record's offset.
    pub offset: i64,
    /// Its timestamp.
    pub timestamp: i64,
    /// Its key, if any.
    pub key: Option<&'a str>,
    /// Its value's length; `None` for a null value (a tombstone).
    pub value_len: Option<usize>,
    /// The whole frame's length.
    pub frame_len: usize,
}

/// Reads the fields before the value (`r` is left at the value's bytes).
fn prefix<'a>(r: &mut Reader<'a>, frame_len: usize) -> Result<FramePrefix<'a>, String> {
    let offset = r.i64()?;
    let timestamp = r.i64()?;
    let key_len = r.u32()? as i32;
    let key = if key_len < 0 {
        None
    } else {
        let b = r.take(key_len as usize)?;
        Some(std::str::from_utf8(b).map_err(|_| "record text is not UTF-8".to_owned())?)
    };
    let value_len = match r.u32()? {
        NULL_VALUE => None,
        n => Some(n as usize),
    };
    Ok(FramePrefix {
        offset,
        timestamp,
        key,
        value_len,
        frame_len,
    })
}

/// What compaction needs of a frame (offset, timestamp, key, whether it is a tombstone, its
/// length), without copying its value. The CRC is checked.
pub(crate) fn decode_key(frame: &[u8]) -> Result<FramePrefix<'_>, String> {
    let (payload, len) = checked_payload(frame)?;
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    prefix(&mut r, len)
}

/// Decodes one frame at the start of `frame`, checking its CRC.
///
/// Returns the offset, the record and the frame length.
pub(crate) fn decode(frame: &[u8]) -> Result<(i64, StoredRecord, usize), String> {
    let (payload, len) = checked_payload(frame)?;
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let FramePrefix {
        offset,
        timestamp,
        key,
        value_len,
        ..
    } = prefix(&mut r, len)?;
    let key = key.map(str::to_owned);
    let value = match value_len {
        None => None,
        Some(n) => Some(r.string(n)?),
    };
    let count = r.u32()? as usize;
    let mut headers = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let klen = r.u32()? as usize;
        let key = r.string(klen)?;
        let vlen = r.u32()? as usize;
        let value = r.string(vlen)?;
        headers.push(Header { key, value });
    }
    Ok((
        offset,
        StoredRecord {
            timestamp,
            key,
            value,
            headers,
        },
        len,
    ))
}

/// Arbitrary records for the property tests of the codec and of segment recovery.
#[cfg(test)]
pub(crate) fn arb_record() -> impl proptest::strategy::Strategy<Value = StoredRecord> {
    use proptest::prelude::*;
    (
        any::<i64>(),
        proptest::option::of(".{0,16}"),
        proptest::option::weighted(0.9, ".{0,64}"),
        proptest::collection::vec((".{0,8}", ".{0,8}"), 0..4),
    )
        .prop_map(|(timestamp, key, value, headers)| StoredRecord {
            timestamp,
            key,
            value,
            headers: headers
                .into_iter()
                .map(|(k, v)| upkafka_protocol::Header::new(k, v))
                .collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as versions before tombstones wrote it (built by hand, byte for byte) still
    /// decodes, and encoding the same record gives the same bytes: old data directories open.
    #[test]
    fn frames_of_earlier_versions_decode_unchanged() {
        let mut payload = Vec::new();
        payload.extend_from_slice(&3i64.to_le_bytes());
        payload.extend_from_slice(&4i64.to_le_bytes());
        payload.extend_from_slice(&(-1i32).to_le_bytes());
        payload.extend_from_slice(&2u32.to_le_bytes());
        payload.extend_from_slice(b"hi");
        payload.extend_from_slice(&0u32.to_le_bytes());
        let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        let (offset, rec, len) = decode(&frame).unwrap();
        assert_eq!((offset, len), (3, frame.len()));
        assert_eq!(rec.value.as_deref(), Some("hi"));
        assert_eq!(rec.key, None);
        let mut again = Vec::new();
        encode(&mut again, 3, &rec);
        assert_eq!(again, frame);
    }

    #[test]
    fn frames_round_trip_and_detect_corruption() {
        let rec = StoredRecord {
            timestamp: 1_637_743_323_016,
            key: Some("city".into()),
            value: Some("İstanbul".into()),
            headers: vec![Header::new("expire", "1637745834756")],
        };
        let none = StoredRecord {
            timestamp: 5,
            key: None,
            value: Some(String::new()),
            headers: vec![],
        };
        let tombstone = StoredRecord {
            timestamp: 6,
            key: Some("city".into()),
            value: None,
            headers: vec![],
        };
        let mut buf = Vec::new();
        let n1 = encode(&mut buf, 7, &rec);
        let n2 = encode(&mut buf, 8, &none);
        let n3 = encode(&mut buf, 9, &tombstone);
        assert_eq!(buf.len(), n1 + n2 + n3);
        let (o, back, len) = decode(&buf).unwrap();
        assert_eq!((o, &back, len), (7, &rec, n1));
        let (o, back, _) = decode(&buf[n1..]).unwrap();
        assert_eq!((o, back), (8, none));
        let (o, back, _) = decode(&buf[n1 + n2..]).unwrap();
        assert_eq!(
            (o, back),
            (9, tombstone),
            "a null value stays null, not empty"
        );
        let mut bad = buf.clone();
        bad[FRAME_HEADER + 20] ^= 0xff;
        assert!(decode(&bad).unwrap_err().contains("CRC"));
        assert!(decode(&buf[..n1 - 1]).is_err());
    }

    fn mark() -> BatchMark {
        BatchMark {
            key: "k-1".into(),
            fingerprint: [7; 16],
            stored_at: 1_700_000_000_000,
            request_len: 5,
            runs: vec![(0, 2), (4, 1)],
        }
    }

    #[test]
    fn a_marked_frame_decodes_as_its_record_and_gives_back_its_mark() {
        let rec = StoredRecord {
            timestamp: 3,
            key: Some("k".into()),
            value: Some("v".into()),
            headers: vec![Header::new("h", "x")],
        };
        let mut buf = Vec::new();
        let n = encode_marked(&mut buf, 9, &rec, Some(&mark()));
        let (o, back, len) = decode(&buf).unwrap();
        assert_eq!((o, back, len), (9, rec.clone(), n));
        assert_eq!(payload_mark(&buf[FRAME_HEADER..n]), Some(mark()));
        assert_eq!(mark().records(), 3);
        // A frame without a trailer (every frame before issue 16) has no mark.
        let mut plain = Vec::new();
        let n = encode(&mut plain, 9, &rec);
        assert_eq!(payload_mark(&plain[FRAME_HEADER..n]), None);
    }

    /// A keyed batch whose first record is a tombstone keeps its mark: a null value has no
    /// value bytes to skip (found merging issues 15 and 16).
    #[test]
    fn a_tombstone_carries_its_batch_s_mark_too() {
        let tombstone = StoredRecord {
            timestamp: 3,
            key: Some("k".into()),
            value: None,
            headers: vec![Header::new("h", "x")],
        };
        let mut buf = Vec::new();
        let n = encode_marked(&mut buf, 4, &tombstone, Some(&mark()));
        let (_, back, _) = decode(&buf).unwrap();
        assert_eq!(back, tombstone);
        assert_eq!(payload_mark(&buf[FRAME_HEADER..n]), Some(mark()));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn record() -> impl Strategy<Value = StoredRecord> {
            super::super::arb_record()
        }

        /// A frame around `payload` with a correct length and CRC, so decoding gets past the
        /// checksum and has to cope with whatever the payload holds.
        fn framed(payload: &[u8]) -> Vec<u8> {
            let mut f = Vec::with_capacity(FRAME_HEADER + payload.len());
            f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            f.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            f.extend_from_slice(payload);
            f
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn frames_round_trip(offset in any::<i64>(), rec in record(), trailing in proptest::collection::vec(any::<u8>(), 0..16)) {
                let mut buf = Vec::new();
                let n = encode(&mut buf, offset, &rec);
                buf.extend_from_slice(&trailing);
                let (o, back, len) = decode(&buf).expect("decodes");
                prop_assert_eq!((o, back, len), (offset, rec, n));
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = payload_mark(&bytes);
                let _ = decode(&bytes);
                let _ = decode(&framed(&bytes));
            }

            #[test]
            fn a_cut_or_flipped_frame_is_an_error_never_a_wrong_record(
                rec in record(),
                cut in any::<prop::sample::Index>(),
                flip in any::<prop::sample::Index>(),
                bit in 0u8..8,
            ) {
                let mut buf = Vec::new();
                let n = encode(&mut buf, 1, &rec);
                prop_assert!(decode(&buf[..cut.index(n)]).is_err());
                let mut bad = buf.clone();
                bad[flip.index(n)] ^= 1 << bit;
                match decode(&bad) {
                    Err(_) => {}
                    // A flip in the length field can only be accepted if it still frames a
                    // payload with a matching CRC: never the case for a shorter/longer read.
                    Ok((o, back, _)) => prop_assert!(o == 1 && back == rec, "a corrupt frame decoded to another record"),
                }
            }
        }
    }
}

//! Internet checksums (RFC 1071) and their incremental update (RFC 1624), sans-I/O so that the
//! unit tests check them on the host against full recomputation.

/// Folds a 32-bit one's complement sum into 16 bits.
#[inline(always)]
pub const fn fold(sum: u32) -> u16 {
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Adds the big-endian 16-bit words of `bytes` (an even count) to `sum`.
#[inline(always)]
pub fn add_words<const N: usize>(mut sum: u32, bytes: &[u8; N]) -> u32 {
    let mut i = 0;
    while i + 1 < N {
        sum += u32::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        i += 2;
    }
    sum
}

/// The checksum of an IPv4 header without options whose checksum field is zero.
#[inline(always)]
pub fn ipv4_header(header: &[u8; 20]) -> u16 {
    !fold(add_words(0, header))
}

/// The checksum `check` after the bytes `old` of the covered data became `new` (RFC 1624,
/// equation 3: `HC' = ~(~HC + ~m + m')`).
#[inline(always)]
pub fn replace<const N: usize>(check: u16, old: &[u8; N], new: &[u8; N]) -> u16 {
    let mut sum = u32::from(!check);
    let mut i = 0;
    while i + 1 < N {
        sum += u32::from(!u16::from_be_bytes([old[i], old[i + 1]]));
        sum += u32::from(u16::from_be_bytes([new[i], new[i + 1]]));
        i += 2;
    }
    !fold(sum)
}

/// [`replace`] for a UDP checksum: zero means "no checksum" over IPv4 and stays zero, and a
/// computed zero is sent as `0xffff` (RFC 768).
#[inline(always)]
pub fn replace_udp<const N: usize>(check: u16, old: &[u8; N], new: &[u8; N]) -> u16 {
    if check == 0 {
        return 0;
    }
    match replace(check, old, new) {
        0 => 0xffff,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full checksum of `bytes` (odd lengths padded with a zero byte).
    fn full(bytes: &[u8]) -> u16 {
        let mut sum = 0u32;
        for pair in bytes.chunks(2) {
            let hi = pair[0];
            let lo = pair.get(1).copied().unwrap_or(0);
            sum += u32::from(u16::from_be_bytes([hi, lo]));
        }
        !fold(sum)
    }

    #[test]
    fn ipv4_header_checksum_matches_a_known_header() {
        // RFC 1071 style example: a header captured from the wire, checksum 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(full(&h), 0);
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        let mut data: Vec<u8> = (0u8..64)
            .map(|b| b.wrapping_mul(37).wrapping_add(11))
            .collect();
        for (at, new) in [
            (4usize, [10u8, 1, 2, 3]),
            (12, [0xff, 0xff, 0, 0]),
            (0, [0, 0, 0, 0]),
        ] {
            let check = full(&data);
            let old: [u8; 4] = data[at..at + 4].try_into().unwrap();
            data[at..at + 4].copy_from_slice(&new);
            let updated = replace(check, &old, &new);
            // One's complement has two zeros: compare by verifying the sum.
            let mut with = data.clone();
            with.extend_from_slice(&updated.to_be_bytes());
            assert_eq!(full(&with), 0, "update at {at}");
        }
        assert_eq!(replace_udp(0, &[1, 2], &[3, 4]), 0);
    }
}

//! Owned buffers: the `IoBuf`/`IoBufMut` implementations, `Slice` ranges and bounds, and I/O
//! through each buffer type (both drivers).

mod support;

use corio::buf::{IoBuf, IoBufMut, Slice};
use corio::net::UnixStream;
use std::io::ErrorKind;
use support::{pattern, run_test};

#[test]
fn vec_counts_len_as_init_and_capacity_as_total() {
    let mut v = Vec::with_capacity(32);
    v.extend_from_slice(b"abc");
    assert_eq!(v.bytes_init(), 3);
    assert_eq!(v.bytes_total(), v.capacity());
    assert!(v.bytes_total() >= 32);
    assert_eq!(v.stable_ptr(), v.as_ptr());
    let p = v.stable_mut_ptr();
    assert_eq!(p as *const u8, v.as_ptr());

    // set_init only ever grows the length, never shrinks it.
    // SAFETY: the first 3 bytes are initialized (they are the Vec's contents).
    unsafe { v.set_init(1) };
    assert_eq!(v, b"abc");
    // SAFETY: bytes 3..5 are written before being exposed.
    unsafe {
        v.stable_mut_ptr().add(3).write(b'd');
        v.stable_mut_ptr().add(4).write(b'e');
        v.set_init(5);
    }
    assert_eq!(v, b"abcde");

    let empty: Vec<u8> = Vec::new();
    assert_eq!((empty.bytes_init(), empty.bytes_total()), (0, 0));
}

#[test]
fn boxed_static_and_str_buffers_are_fully_initialized() {
    let mut b: Box<[u8]> = vec![7u8; 10].into_boxed_slice();
    assert_eq!((b.bytes_init(), b.bytes_total()), (10, 10));
    assert_eq!(b.stable_ptr(), b.as_ptr());
    // SAFETY: a boxed slice is all initialized; set_init records nothing.
    unsafe { b.set_init(3) };
    assert_eq!(b.bytes_init(), 10);

    let s: &'static [u8] = b"static bytes";
    assert_eq!((s.bytes_init(), s.bytes_total()), (12, 12));
    assert_eq!(s.stable_ptr(), s.as_ptr());

    let t: &'static str = "héllo";
    assert_eq!((t.bytes_init(), t.bytes_total()), (6, 6));
    assert_eq!(t.stable_ptr(), t.as_ptr());
}

#[test]
fn slice_ranges_resolve_against_bytes_total() {
    let v = b"0123456789".to_vec();
    let total = v.bytes_total();

    let s = v.slice(..);
    assert_eq!((s.begin(), s.end()), (0, total));
    assert_eq!(&s[..], b"0123456789");
    let v = s.into_inner();

    let s = v.slice(2..5);
    assert_eq!((s.begin(), s.end()), (2, 5));
    assert_eq!(&s[..], b"234");
    assert_eq!((s.bytes_init(), s.bytes_total()), (3, 3));
    assert_eq!(s.stable_ptr(), s.get_ref()[2..].as_ptr());
    let v = s.into_inner();

    let s = v.slice(2..=5);
    assert_eq!((s.begin(), s.end()), (2, 6));
    assert_eq!(&s[..], b"2345");
    let v = s.into_inner();

    let s = v.slice(7..);
    assert_eq!(&s[..], b"789");
    let v = s.into_inner();

    let s = v.slice(..3);
    assert_eq!(&s[..], b"012");
    let v = s.into_inner();

    let s = v.slice(4..4);
    assert_eq!((s.bytes_init(), s.bytes_total()), (0, 0));
    assert!(s.is_empty());
    let v = s.into_inner();

    // into_inner gives back the same allocation, untouched.
    assert_eq!(v, b"0123456789");
}

#[test]
fn slice_initialized_part_is_clamped_to_the_buffers_initialized_bytes() {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(b"abcdef");
    // The slice reaches past len into spare capacity: only up to len is initialized.
    let s = v.slice(4..12);
    assert_eq!((s.bytes_init(), s.bytes_total()), (2, 8));
    assert_eq!(&s[..], b"ef");
    let v = s.into_inner();
    // Entirely in spare capacity.
    let s = v.slice(8..16);
    assert_eq!((s.bytes_init(), s.bytes_total()), (0, 8));
    assert!(s.is_empty());
    let v = s.into_inner();
    // Unbounded end means capacity, not len.
    let s = v.slice(..);
    assert_eq!(s.end(), s.get_ref().capacity());
    assert_eq!(&s[..], b"abcdef");
}

#[test]
fn slice_deref_mut_writes_through_to_the_buffer() {
    let v = b"hello world".to_vec();
    let mut s = v.slice(6..);
    s.copy_from_slice(b"WORLD");
    assert_eq!(s.into_inner(), b"hello WORLD");
}

#[test]
fn slices_of_slices_compose_offsets() {
    let v = b"abcdefghij".to_vec();
    let outer = v.slice(2..9); // "cdefghi"
    let inner = outer.slice(1..4); // "def"
    assert_eq!(&inner[..], b"def");
    assert_eq!((inner.bytes_init(), inner.bytes_total()), (3, 3));
    assert_eq!(inner.get_ref().begin(), 2);
    let v = inner.into_inner().into_inner();
    assert_eq!(v, b"abcdefghij");

    let s: Slice<&'static str> = "static str".slice(7..);
    assert_eq!(&s[..], b"str");
    let b: Slice<Box<[u8]>> = vec![1u8, 2, 3, 4].into_boxed_slice().slice(1..3);
    assert_eq!(&b[..], &[2, 3]);
}

#[test]
#[should_panic(expected = "out of bounds")]
fn slice_end_past_total_panics() {
    let _ = vec![0u8; 4].slice(2..5);
}

#[test]
#[should_panic(expected = "out of bounds")]
fn slice_end_past_capacity_panics() {
    let v: Vec<u8> = Vec::with_capacity(8);
    let cap = v.capacity();
    let _ = v.slice(0..cap + 1);
}

#[test]
#[allow(clippy::reversed_empty_ranges)]
#[should_panic(expected = "out of bounds")]
fn slice_with_begin_after_end_panics() {
    let _ = vec![0u8; 8].slice(5..3);
}

#[test]
#[should_panic(expected = "out of bounds")]
fn slice_of_static_str_past_end_panics() {
    let _ = "abc".slice(..=3);
}

#[test]
fn slice_inside_capacity_is_fine() {
    let v: Vec<u8> = Vec::with_capacity(8);
    let cap = v.capacity();
    let s = v.slice(0..cap);
    assert_eq!((s.bytes_init(), s.bytes_total()), (0, cap));
}

/// Every readable buffer type goes through `write_all` and arrives byte-exact.
#[test]
fn write_all_of_every_buffer_type_round_trips() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let big = pattern(1, 300_000);
        let expected: Vec<u8> = [
            &b"static str|"[..],
            b"static bytes|",
            b"boxed|",
            &big,
            b"vec-slice",
        ]
        .concat();
        let reader = corio::spawn(async move {
            let (res, buf) = b.read_exact(Vec::with_capacity(expected.len())).await;
            res.unwrap();
            assert!(buf == expected, "bytes differ");
            b
        });
        let (res, s) = a.write_all("static str|").await;
        res.unwrap();
        assert_eq!(s, "static str|");
        let (res, _) = a.write_all(&b"static bytes|"[..]).await;
        res.unwrap();
        let boxed: Box<[u8]> = b"boxed|".to_vec().into_boxed_slice();
        let (res, boxed) = a.write_all(boxed).await;
        res.unwrap();
        assert_eq!(&boxed[..], b"boxed|");
        let (res, big_back) = a.write_all(big).await;
        res.unwrap();
        assert_eq!(big_back.len(), 300_000);
        // A slice sends only its range; the rest of the Vec is returned untouched.
        let (res, s) = a.write_all(b"xxvec-slicexx".to_vec().slice(2..11)).await;
        res.unwrap();
        assert_eq!(s.into_inner(), b"xxvec-slicexx");
        reader.await.unwrap();
    });
}

/// `write` of a slice whose range reaches past the Vec's length sends only the initialized
/// part of the range.
#[test]
fn write_of_a_slice_sends_only_its_initialized_bytes() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"0123");
        let (res, s) = a.write(v.slice(2..10)).await;
        assert_eq!(res.unwrap(), 2);
        assert_eq!(s.into_inner(), b"0123");
        let (res, buf) = b.read_exact(Vec::with_capacity(2)).await;
        res.unwrap();
        assert_eq!(buf, b"23");
    });
}

/// Reads land in the spare capacity, through a `Slice` too, and full buffers are refused.
#[test]
fn reads_fill_spare_capacity_and_refuse_full_buffers() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write_all(&b"abcdefghijklmnop"[..]).await;
        res.unwrap();

        // A Vec with 2 bytes already: they stay, the rest is appended up to capacity.
        let mut v = Vec::with_capacity(6);
        v.extend_from_slice(b"XY");
        let cap = v.capacity();
        let (res, v) = b.read_exact(v).await;
        res.unwrap();
        assert_eq!(v.len(), cap);
        assert_eq!(&v[..2], b"XY");
        assert_eq!(&v[2..], &b"abcdefghijklmnop"[..cap - 2]);
        let consumed = cap - 2;

        // A slice starting at the Vec's length: the read writes only inside the range.
        let mut v = Vec::with_capacity(32);
        v.extend_from_slice(b"keep");
        let (res, s) = b.read_exact(v.slice(4..8)).await;
        res.unwrap();
        let v = s.into_inner();
        assert_eq!(v.len(), 8);
        assert_eq!(&v[..4], b"keep");
        assert_eq!(&v[4..], &b"abcdefghijklmnop"[consumed..consumed + 4]);

        // Full buffers are refused rather than reporting a bogus EOF.
        let (res, boxed) = b.read(vec![0u8; 4].into_boxed_slice()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(&boxed[..], &[0; 4]);
        let full = vec![1u8; 4];
        let (res, full) = b.read(full).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(full, [1; 4]);
        let (res, s) = b.read(b"abcd".to_vec().slice(1..3)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(s.into_inner(), b"abcd");
        let (res, _) = b.read_exact(vec![0u8; 3]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);

        // The refused reads consumed nothing: the rest of the data is still there.
        let rest = 16 - consumed - 4;
        let (res, v) = b.read_exact(Vec::with_capacity(rest)).await;
        res.unwrap();
        assert_eq!(&v[..rest], &b"abcdefghijklmnop"[consumed + 4..]);
    });
}

/// `writev` with buffers of different types (boxed so they share one type) keeps their order.
#[test]
fn writev_returns_every_buffer() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let bufs: Vec<Slice<Vec<u8>>> = vec![
            b"--one--".to_vec().slice(2..5),
            b"two".to_vec().slice(..),
            Vec::new().slice(..),
            b"three!".to_vec().slice(..5),
        ];
        let (res, bufs) = a.writev(bufs).await;
        assert_eq!(res.unwrap(), 11);
        assert_eq!(bufs.len(), 4);
        assert_eq!(bufs[0].get_ref(), b"--one--");
        let (res, v) = b.read_exact(Vec::with_capacity(11)).await;
        res.unwrap();
        assert_eq!(v, b"onetwothree");
    });
}

/// A read into a slice that begins past the Vec's length: the kernel writes `begin..`, and
/// `Slice::set_init` then calls `Vec::set_init(begin + n)`, which sets the Vec's length over
/// the bytes `len..begin` that nobody initialized (src/buf/slice.rs, `IoBufMut for Slice`).
/// Expected: either refused (`InvalidInput`) or the gap zero-filled before it is exposed.
#[test]
fn read_into_a_slice_past_the_vec_length_exposes_no_uninitialized_bytes() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write_all(&b"data"[..]).await;
        res.unwrap();
        let v: Vec<u8> = Vec::with_capacity(16);
        let (res, s) = b.read(v.slice(4..10)).await;
        let v = s.into_inner();
        match res {
            Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidInput),
            // If the read is allowed, the gap must have been zero-filled, not left undefined.
            Ok(n) => {
                assert_eq!(v.len(), 4 + n);
                assert_eq!(&v[..4], &[0; 4]);
                assert_eq!(&v[4..], &b"data"[..n]);
            }
        }
    });
}

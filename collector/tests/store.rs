//! The store's guards: a layout written by another version is refused, naming both versions,
//! and a second opener is told the folder is in use rather than corrupting it.

use vigia_collector::store::{Store, StoreError, LAYOUT_VERSION};

#[test]
fn another_layout_version_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    drop(Store::open(&data, 8 << 20).expect("create"));
    {
        let db = sled::open(&data).expect("raw open");
        let meta = db.open_tree("meta").expect("meta");
        meta.insert("layout_version", &99u32.to_be_bytes())
            .expect("write");
        db.flush().expect("flush");
    }
    let e = match Store::open(&data, 8 << 20) {
        Err(e) => e,
        Ok(_) => panic!("a version-99 store must be refused"),
    };
    assert!(matches!(e, StoreError::Version { found: 99, .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("version 99") && msg.contains(&format!("version {LAYOUT_VERSION}")),
        "{msg}"
    );
    assert!(msg.contains("data"), "{msg}");
}

#[test]
fn a_second_opener_is_told_the_store_is_in_use() {
    let dir = tempfile::tempdir().expect("dir");
    let first = Store::open(dir.path(), 8 << 20).expect("first");
    let e = match Store::open(dir.path(), 8 << 20) {
        Err(e) => e,
        Ok(_) => panic!("second open must fail"),
    };
    assert!(matches!(e, StoreError::Locked { .. }), "{e}");
    assert!(e.to_string().contains("in use"), "{e}");
    drop(first);
    Store::open(dir.path(), 8 << 20).expect("free again");
}

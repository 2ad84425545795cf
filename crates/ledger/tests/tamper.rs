//! A log of 1000 change records, checkpointed and signed at 600 and 1000, then
//! tampered with in every way and at every position: a client holding the
//! signed checkpoints notices each time.

use ledger::{verify_consistency, verify_log, Checkpoint, Error, Signer, Tree, Verifier};

const N: usize = 1000;
const OLD: usize = 600;
const ORIGIN: &str = "deconflict.example/ledger";

fn records() -> Vec<Vec<u8>> {
    (0..N)
        .map(|i| {
            format!(
                r#"{{"seq":{i},"op":"put_intent","id":"op-{}"}}"#,
                i * 7919 % 1009
            )
            .into_bytes()
        })
        .collect()
}

fn tree(entries: &[Vec<u8>]) -> Tree {
    let mut t = Tree::new();
    for e in entries {
        t.append(e);
    }
    t
}

/// What a client holds: the log's public key and two checkpoints it opened.
struct Client {
    old: Checkpoint,
    new: Checkpoint,
}

fn setup() -> (Vec<Vec<u8>>, Client) {
    let signer = Signer::generate(ORIGIN, &mut rand::rngs::OsRng).unwrap();
    let log = records();
    let t = tree(&log);
    let sign = |size: usize| {
        signer
            .sign_checkpoint(&Checkpoint {
                origin: ORIGIN.into(),
                size: size as u64,
                root: t.root_at(size as u64).unwrap(),
            })
            .unwrap()
    };
    let (old_note, new_note) = (sign(OLD), sign(N));
    let verifier = Verifier::parse(&signer.verifier().to_string()).unwrap();
    let client = Client {
        old: verifier.open_checkpoint(&old_note).unwrap(),
        new: verifier.open_checkpoint(&new_note).unwrap(),
    };
    (log, client)
}

fn is_root_mismatch(r: Result<(), Error>) -> bool {
    matches!(r, Err(Error::RootMismatch { .. }))
}

#[test]
fn the_honest_log_verifies() {
    let (log, c) = setup();
    assert_eq!(verify_log(&log, &c.new), Ok(()));
    assert_eq!(verify_log(&log[..OLD], &c.old), Ok(()));
    assert_eq!(verify_log(log.iter().take(OLD), &c.old), Ok(()));
    let proof = tree(&log).consistency_proof(OLD as u64, N as u64).unwrap();
    assert_eq!(
        verify_consistency(OLD as u64, N as u64, &c.old.root, &c.new.root, &proof),
        Ok(())
    );
}

#[test]
fn an_altered_entry_is_detected() {
    let (log, c) = setup();
    for i in 0..N {
        let mut t = log.clone();
        t[i][0] ^= 0x01;
        assert!(is_root_mismatch(verify_log(&t, &c.new)), "entry {i}");
    }
}

#[test]
fn a_deleted_entry_is_detected() {
    let (log, c) = setup();
    for i in 0..N {
        let mut t = log.clone();
        t.remove(i);
        assert_eq!(
            verify_log(&t, &c.new),
            Err(Error::LogSizeMismatch {
                entries: N as u64 - 1,
                checkpoint: N as u64
            })
        );
        // Padding the log back to its size does not help.
        t.push(b"forged".to_vec());
        assert!(is_root_mismatch(verify_log(&t, &c.new)), "entry {i}");
    }
}

#[test]
fn swapped_neighbours_are_detected() {
    let (log, c) = setup();
    for i in 0..N - 1 {
        let mut t = log.clone();
        t.swap(i, i + 1);
        assert!(
            is_root_mismatch(verify_log(&t, &c.new)),
            "entries {i}, {}",
            i + 1
        );
    }
}

#[test]
fn an_extra_entry_is_detected() {
    let (log, c) = setup();
    // One more entry than the old checkpoint claims.
    assert_eq!(
        verify_log(&log[..=OLD], &c.old),
        Err(Error::LogSizeMismatch {
            entries: OLD as u64 + 1,
            checkpoint: OLD as u64
        })
    );
    // An entry slipped in before the old checkpoint's end, the log cut back
    // to the claimed size.
    for i in 0..OLD {
        let mut t = log[..OLD].to_vec();
        t.insert(i, b"slipped in".to_vec());
        t.pop();
        assert!(is_root_mismatch(verify_log(&t, &c.old)), "at {i}");
    }
}

/// The operator rewrites history and serves proofs from the rewritten tree:
/// a client holding the old checkpoint refuses the consistency proof, and one
/// holding the signed new checkpoint refuses the new root.
#[test]
fn rewritten_history_fails_consistency() {
    let (log, c) = setup();
    let (old, new) = (OLD as u64, N as u64);
    for i in (0..N).step_by(7) {
        let mut t = log.clone();
        t[i][0] ^= 0x01;
        let forged = tree(&t);
        let proof = forged.consistency_proof(old, new).unwrap();
        if i < OLD {
            // Rewritten before the old checkpoint: no longer an extension.
            assert!(
                verify_consistency(old, new, &c.old.root, &forged.root(), &proof).is_err(),
                "entry {i}"
            );
        } else {
            // Rewritten after it: a valid extension of the old tree, but not
            // the tree the log signed at size 1000.
            assert_eq!(
                verify_consistency(old, new, &c.old.root, &forged.root(), &proof),
                Ok(())
            );
            assert!(verify_consistency(old, new, &c.old.root, &c.new.root, &proof).is_err());
        }
        assert!(is_root_mismatch(verify_log(&t, &c.new)));
    }
}

//! Keys, signed notes and checkpoints, against the published vectors of
//! golang.org/x/mod/sumdb/note (BSD-3-Clause, The Go Authors), C2SP
//! signed-note, google/trillian-examples and a real sum.golang.org
//! checkpoint, plus round trips and tampering.

use ledger::{b64, Checkpoint, ConsistencyProof, Error, InclusionProof, Signer, Tree, Verifier};

// ---- golang.org/x/mod/sumdb/note note_test.go

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#[test]
fn sumdb_note_sign_vector() {
    let signer = Signer::parse(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_hash(), 0xc74f20a3);
    assert_eq!(signer.to_key_string(), PETER_SKEY);
    assert_eq!(signer.verifier().to_string(), PETER_VKEY);
    assert_eq!(
        signer.sign_note(TEXT).unwrap(),
        format!("{TEXT}\n{PETER_SIG}")
    );
    assert_eq!(
        signer.sign_note("abc"),
        Err(Error::MalformedNote("text does not end with a newline"))
    );
}

#[test]
fn sumdb_note_open_vectors() {
    let peter: Verifier = PETER_VKEY.parse().unwrap();
    let enoch: Verifier = ENOCH_VKEY.parse().unwrap();
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    // Each key finds its own signature and ignores the other's.
    assert_eq!(peter.open_note(&both), Ok(TEXT));
    assert_eq!(enoch.open_note(&both), Ok(TEXT));

    // A signature by our key that does not verify spoils the note.
    let corrupt = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(
        peter.open_note(&corrupt),
        Err(Error::BadSignature {
            name: "PeterNeumann".into(),
            key_hash: 0xc74f20a3
        })
    );
    // Duplicates, and a corrupt signature by a key we do not hold, are fine.
    let dup = format!(
        "{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{}ABCD{}",
        &ENOCH_SIG[..60],
        &ENOCH_SIG[60..]
    );
    assert_eq!(peter.open_note(&dup), Ok(TEXT));

    for bad in [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{TEXT}\n{}", PETER_SIG.repeat(101)),
    ] {
        assert!(
            matches!(peter.open_note(&bad), Err(Error::MalformedNote(_))),
            "{bad:?}: {:?}",
            peter.open_note(&bad)
        );
    }
    assert_eq!(
        peter.open_note(&format!("{TEXT}\n{}", PETER_SIG.repeat(100))),
        Ok(TEXT)
    );

    // Signatures naming another key, or another key hash, are not ours.
    let no_sig = Err(Error::NoSignature {
        name: "PeterNeumann".into(),
        key_hash: 0xc74f20a3,
    });
    let misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
    assert_eq!(peter.open_note(&format!("{TEXT}\n{misnamed}")), no_sig);
    let wrong_hash = PETER_SIG.replace("x08g", "xxxx");
    assert_eq!(peter.open_note(&format!("{TEXT}\n{wrong_hash}")), no_sig);
    assert_eq!(peter.open_note(&format!("{TEXT}\n{ENOCH_SIG}")), no_sig);
}

/// note_test.go `TestNewVerifier` / `TestNewSigner`: every proper substring and
/// every single-byte increment of a valid key is refused.
#[test]
fn sumdb_note_key_manglings() {
    fn manglings(key: &str) -> Vec<String> {
        let b = key.as_bytes();
        let mut out = Vec::new();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i != 0 || j != b.len() {
                    out.push(key[i..j].to_owned());
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            out.push(String::from_utf8(m).unwrap());
        }
        out
    }
    for m in manglings(PETER_VKEY) {
        assert!(Verifier::parse(&m).is_err(), "{m}");
    }
    for m in manglings(PETER_SKEY) {
        assert!(Signer::parse(&m).is_err(), "{m}");
    }
    // Wrong key length and unknown algorithm, each with a matching hash.
    assert!(matches!(
        Verifier::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(Error::MalformedKey { .. })
    ));
    assert_eq!(
        Verifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(Error::UnsupportedAlgorithm(0x65))
    );
}

/// The example of C2SP signed-note.
#[test]
fn c2sp_signed_note_example() {
    let v =
        Verifier::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
            .unwrap();
    let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    assert_eq!(v.open_note(note), Ok("This is an example message.\n"));
}

/// A checkpoint signed by sum.golang.org (quoted in google/trillian-examples
/// `formats/log` tests), with the Go checksum database's public key. Its key
/// name is not its origin.
#[test]
fn sum_golang_org_checkpoint() {
    let v = Verifier::parse("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8")
        .unwrap();
    let note = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";
    assert_eq!(
        v.open_checkpoint(note),
        Ok(Checkpoint {
            origin: "go.sum database tree".into(),
            size: 6476701,
            root: b64::decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=").unwrap(),
        })
    );
    assert!(matches!(
        v.open_checkpoint(&note.replace("6476701", "6476702")),
        Err(Error::BadSignature { .. })
    ));
}

/// Key pairs from google/trillian-examples `formats/log` tests (made with
/// sumdb/note `GenerateKey`): the signer key derives the verifier key.
#[test]
fn key_pairs_from_sumdb_note() {
    for (skey, vkey) in [
        (
            "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
            "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
        ),
        (
            "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
            "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
        ),
        (
            "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
            "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
        ),
        (
            "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
            "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
        ),
    ] {
        let signer = Signer::parse(skey).unwrap();
        assert_eq!(signer.to_key_string(), skey);
        assert_eq!(signer.verifier().to_string(), vkey);
        assert_eq!(Verifier::parse(vkey).unwrap(), signer.verifier());
    }
}

// ---- Our own keys and checkpoints.

fn log_signer() -> Signer {
    Signer::generate("deconflict.example/ledger", &mut rand::rngs::OsRng).unwrap()
}

#[test]
fn generated_keys_round_trip() {
    let s = log_signer();
    let again = Signer::parse(&s.to_key_string()).unwrap();
    assert_eq!(again.verifier(), s.verifier());
    let v = Verifier::parse(&s.verifier().to_string()).unwrap();
    assert_eq!(v, s.verifier());
    assert_eq!(
        Verifier::from_public_key(v.name(), &v.public_key()).unwrap(),
        v
    );
    assert_eq!(
        Signer::from_seed("bad name", &[1; 32]).unwrap_err(),
        Error::InvalidKeyName("bad name".into())
    );
    assert!(Signer::generate("a+b", &mut rand::rngs::OsRng).is_err());
}

fn checkpoint_of(n: u64) -> Checkpoint {
    let mut t = Tree::new();
    for i in 0..n {
        t.append(format!("change {i}").as_bytes());
    }
    Checkpoint {
        origin: "deconflict.example/ledger".into(),
        size: n,
        root: t.root(),
    }
}

#[test]
fn checkpoints_round_trip_in_the_standard_layout() {
    let s = log_signer();
    let cp = checkpoint_of(1000);
    let note = s.sign_checkpoint(&cp).unwrap();
    let (body, sig) = note.split_once("\n\n").unwrap();
    assert_eq!(
        body,
        format!("deconflict.example/ledger\n1000\n{}", b64::encode(&cp.root))
    );
    let sig = sig.strip_prefix("— deconflict.example/ledger ").unwrap();
    assert_eq!(sig.len(), 93, "base64 of 4 + 64 bytes, and a newline");
    assert!(sig.ends_with("=\n"));
    assert_eq!(s.verifier().open_checkpoint(&note), Ok(cp.clone()));

    let empty = Checkpoint {
        origin: "o".into(),
        size: 0,
        root: ledger::EMPTY_ROOT,
    };
    let note = s.sign_checkpoint(&empty).unwrap();
    assert_eq!(s.verifier().open_checkpoint(&note), Ok(empty));

    for origin in ["", "two\nlines", "tab\there"] {
        let bad = Checkpoint {
            origin: origin.into(),
            ..cp.clone()
        };
        assert!(matches!(
            s.sign_checkpoint(&bad),
            Err(Error::MalformedCheckpoint(_))
        ));
    }
}

/// Changing any single character of a signed checkpoint is detected.
#[test]
fn every_single_character_change_is_refused() {
    let s = log_signer();
    let v = s.verifier();
    let note = s.sign_checkpoint(&checkpoint_of(1000)).unwrap();
    let chars: Vec<char> = note.chars().collect();
    for i in 0..chars.len() {
        for replacement in ['A', '0', '\n'] {
            if chars[i] == replacement {
                continue;
            }
            let mut c = chars.clone();
            c[i] = replacement;
            let tampered: String = c.into_iter().collect();
            assert!(
                v.open_checkpoint(&tampered).is_err(),
                "char {i} -> {replacement:?} accepted:\n{tampered}"
            );
        }
    }
    // A co-signature by another key is ignored; a signature by another key
    // alone is not enough.
    let other = log_signer();
    let cosigned = format!(
        "{note}{}",
        other
            .sign_checkpoint(&checkpoint_of(1000))
            .unwrap()
            .split_once("\n\n")
            .unwrap()
            .1
    );
    assert_eq!(v.open_checkpoint(&cosigned), Ok(checkpoint_of(1000)));
    assert!(matches!(
        v.open_checkpoint(&other.sign_checkpoint(&checkpoint_of(1000)).unwrap()),
        Err(Error::NoSignature { .. })
    ));
}

#[test]
fn checkpoint_bodies() {
    let root = b64::encode(&checkpoint_of(3).root);
    let ok = format!("o\n3\n{root}\n");
    assert_eq!(Checkpoint::parse_body(&ok).unwrap().size, 3);
    assert_eq!(
        Checkpoint::parse_body(&format!("origin with spaces\n0\n{root}\n"))
            .unwrap()
            .size,
        0
    );
    let max = format!("o\n{}\n{root}\n", u64::MAX);
    assert_eq!(Checkpoint::parse_body(&max).unwrap().size, u64::MAX);
    for bad in [
        format!("o\n3\n{root}"),
        format!("o\n3\n{root}\nextension\n"),
        "o\n3\n".to_owned(),
        format!("\n3\n{root}\n"),
        format!("o\n03\n{root}\n"),
        format!("o\n+3\n{root}\n"),
        format!("o\n-3\n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n 3\n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        format!("o\n3\n{}\n", &root[..40]),
        // The empty root with non-zero padding bits (…SuFU= is canonical).
        "o\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n".to_owned(),
        "o\n3\nZG9uJ3QgY2FyZSAx\n".to_owned(),
    ] {
        assert!(
            matches!(
                Checkpoint::parse_body(&bad),
                Err(Error::MalformedCheckpoint(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn json_shapes_for_the_api() {
    let cp = checkpoint_of(5);
    let json = serde_json::to_value(&cp).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "origin": "deconflict.example/ledger",
            "size": 5,
            "root": b64::encode(&cp.root),
        })
    );
    assert_eq!(serde_json::from_value::<Checkpoint>(json).unwrap(), cp);

    let mut t = Tree::new();
    for i in 0..10u8 {
        t.append(&[i]);
    }
    let p = InclusionProof {
        leaf_index: 3,
        tree_size: 10,
        hashes: t.inclusion_proof(3, 10).unwrap(),
    };
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.starts_with(r#"{"leaf_index":3,"tree_size":10,"hashes":[""#));
    let back: InclusionProof = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.verify(&ledger::leaf_hash(&[3]), &t.root()), Ok(()));

    let c = ConsistencyProof {
        old_size: 7,
        new_size: 10,
        hashes: t.consistency_proof(7, 10).unwrap(),
    };
    let back: ConsistencyProof = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back.verify(&t.root_at(7).unwrap(), &t.root()), Ok(()));

    let err = serde_json::from_str::<ConsistencyProof>(
        r#"{"old_size":1,"new_size":2,"hashes":["ZG9uJ3QgY2FyZSAx"]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("invalid hash"), "{err}");
}

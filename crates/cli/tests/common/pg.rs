//! A throwaway PostgreSQL database for the black-box tests. PostgreSQL runs
//! at 127.0.0.1:5432 on these machines (trust auth; `DECONFLICT_PG_URL`
//! overrides the admin URL). Without a server the tests fail unless
//! DECONFLICT_SKIP_PG=1.
#![allow(dead_code)] // not every test binary uses PostgreSQL

pub fn admin_url() -> String {
    std::env::var("DECONFLICT_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database, dropped when this goes out of scope.
/// `None` (the test then returns early) only with DECONFLICT_SKIP_PG=1.
pub struct Db {
    pub name: String,
}

impl Db {
    pub fn create() -> Option<Db> {
        if std::env::var("DECONFLICT_SKIP_PG").as_deref() == Ok("1") {
            eprintln!("DECONFLICT_SKIP_PG=1: skipping");
            return None;
        }
        let mut c = postgres::Client::connect(&admin_url(), postgres::NoTls).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {} ({e}); set DECONFLICT_SKIP_PG=1 to skip",
                admin_url()
            )
        });
        let name = format!("deconflict_cli_{}", uuid::Uuid::new_v4().simple());
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        Some(Db { name })
    }

    pub fn url(&self) -> String {
        let admin = admin_url();
        let base = &admin[..admin.rfind('/').unwrap()];
        format!("{base}/{}", self.name)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

//! The identity port over D1 (schema: migrations/0002_identity.sql).

use super::{changes, n, opt, s, D1Access};
use crate::auth::identity::*;
use crate::auth::{Login, OrgRole, Role, Scopes, Visibility};
use crate::error::{RegistryError, Result};
use crate::oci::RepoName;
use serde::Deserialize;

pub struct D1Identity(pub D1Access);

fn corrupt(what: &str) -> RegistryError {
    RegistryError::internal(format!("corrupt identity row: {what}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| corrupt("token hash")))
        .collect()
}

#[derive(Deserialize)]
struct TokenRow {
    id: String,
    login: String,
    hash: String,
    scopes: String,
    note: Option<String>,
    expires_at: Option<u64>,
    revoked_at: Option<u64>,
}

fn token_record(r: TokenRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        login: Login::parse(&r.login).map_err(|_| corrupt("token login"))?,
        hash: unhex(&r.hash)?,
        scopes: Scopes::parse_list(r.scopes.split(' ').filter(|x| !x.is_empty())).map_err(|_| corrupt("scopes"))?,
        note: r.note,
        expires_ms: r.expires_at,
        revoked: r.revoked_at.is_some(),
        id: r.id,
    })
}

#[derive(Deserialize)]
struct KindRow {
    kind: String,
}

#[derive(Deserialize)]
struct RoleRow {
    role: String,
}

const PACKAGE_COLUMNS: &str = "id, repository, visibility, created_at, created_by, collect_untagged, content_epoch";

#[derive(Deserialize)]
struct PackageRow {
    id: String,
    repository: String,
    visibility: String,
    created_at: u64,
    created_by: String,
    collect_untagged: u32,
    content_epoch: u64,
}

impl PackageRow {
    fn package(self) -> Result<Package> {
        Ok(Package {
            id: self.id,
            repo: RepoName::parse(&self.repository).map_err(|_| corrupt("repository"))?,
            visibility: Visibility::parse(&self.visibility).map_err(|_| corrupt("visibility"))?,
            created_ms: self.created_at,
            created_by: Login::parse(&self.created_by).map_err(|_| corrupt("creator"))?,
            collect_untagged: self.collect_untagged != 0,
            content_epoch: self.content_epoch,
        })
    }
}

#[derive(Deserialize)]
struct StandingRow {
    #[serde(flatten)]
    package: PackageRow,
    granted: Option<String>,
    org_role: Option<String>,
}

impl StandingRow {
    fn standing(self) -> Result<Standing> {
        Ok(Standing {
            granted: self.granted.map(|r| Role::parse(&r).map_err(|_| corrupt("role"))).transpose()?,
            org_role: self.org_role.map(|r| OrgRole::parse(&r).map_err(|_| corrupt("org role"))).transpose()?,
            package: self.package.package()?,
        })
    }
}

/// The package columns of `p`.
fn package_columns() -> String {
    PACKAGE_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ")
}

#[derive(Deserialize)]
struct CollaboratorRow {
    login: String,
    role: String,
}

impl IdentityStore for D1Identity {
    async fn account(&self, login: &Login) -> Result<Option<AccountKind>> {
        let row: Option<KindRow> =
            self.0.first("SELECT kind FROM accounts WHERE login = ?1", &[s(login.as_str())]).await?;
        Ok(row.map(|r| if r.kind == "org" { AccountKind::Org } else { AccountKind::User }))
    }

    async fn create_user(&self, login: &Login, now_ms: u64) -> Result<bool> {
        let sql = "INSERT OR IGNORE INTO accounts (login, kind, created_at) VALUES (?1, 'user', ?2)";
        Ok(self.0.run(sql, &[s(login.as_str()), n(now_ms)]).await? == 1)
    }

    async fn create_org(&self, org: &Login, owner: &Login, now_ms: u64) -> Result<bool> {
        let results = self
            .0
            .batch(vec![
                self.0.stmt(
                    "INSERT OR IGNORE INTO accounts (login, kind, created_at) VALUES (?1, 'org', ?2)",
                    &[s(org.as_str()), n(now_ms)],
                )?,
                // The first owner joins only an organization created just now.
                self.0.stmt(
                    "INSERT INTO org_members (org, login, role) SELECT ?1, ?2, 'owner' \
                     WHERE (SELECT kind FROM accounts WHERE login = ?1) = 'org' \
                     AND (SELECT created_at FROM accounts WHERE login = ?1) = ?3 \
                     AND NOT EXISTS (SELECT 1 FROM org_members WHERE org = ?1)",
                    &[s(org.as_str()), s(owner.as_str()), n(now_ms)],
                )?,
            ])
            .await?;
        Ok(changes(&results[0])? == 1)
    }

    async fn set_member(&self, org: &Login, login: &Login, role: OrgRole) -> Result<()> {
        let sql = "INSERT INTO org_members (org, login, role) VALUES (?1, ?2, ?3) \
                   ON CONFLICT (org, login) DO UPDATE SET role = excluded.role";
        self.0.run(sql, &[s(org.as_str()), s(login.as_str()), s(role.as_str())]).await.map(|_| ())
    }

    async fn org_role(&self, org: &str, login: &Login) -> Result<Option<OrgRole>> {
        let sql = "SELECT role FROM org_members WHERE org = ?1 AND login = ?2";
        let row: Option<RoleRow> = self.0.first(sql, &[s(org), s(login.as_str())]).await?;
        row.map(|r| OrgRole::parse(&r.role).map_err(|_| corrupt("org role"))).transpose()
    }

    async fn remove_member(&self, org: &Login, login: &Login) -> Result<MemberRemoval> {
        // One statement: an organization's last owner cannot be removed, even by two
        // removals racing.
        let sql = "DELETE FROM org_members WHERE org = ?1 AND login = ?2 AND (role <> 'owner' \
                   OR (SELECT COUNT(*) FROM org_members WHERE org = ?1 AND role = 'owner') > 1)";
        if self.0.run(sql, &[s(org.as_str()), s(login.as_str())]).await? == 1 {
            return Ok(MemberRemoval::Removed);
        }
        Ok(match self.org_role(org.as_str(), login).await? {
            None => MemberRemoval::NotMember,
            Some(_) => MemberRemoval::LastOwner,
        })
    }

    async fn package_roles_in(&self, namespace: &str, login: &Login) -> Result<Vec<(RepoName, Role)>> {
        #[derive(Deserialize)]
        struct Row {
            repository: String,
            role: String,
        }
        let sql = "SELECT repository, role FROM package_roles WHERE login = ?1 AND repository > ?2 \
                   AND repository < ?3 ORDER BY repository LIMIT ?4";
        let (from, to) = (format!("{namespace}/"), format!("{namespace}0"));
        let args = [s(login.as_str()), s(from), s(to), n(MAX_LISTED as u64)];
        let rows: Vec<Row> = self.0.rows(sql, &args).await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    RepoName::parse(&r.repository).map_err(|_| corrupt("repository"))?,
                    Role::parse(&r.role).map_err(|_| corrupt("role"))?,
                ))
            })
            .collect()
    }

    async fn set_suspended(&self, login: &Login, suspended: bool) -> Result<bool> {
        let sql = "UPDATE accounts SET suspended_at = CASE WHEN ?2 = 1 \
                     THEN coalesce(suspended_at, CAST(strftime('%s', 'now') AS INTEGER) * 1000) ELSE NULL END \
                   WHERE login = ?1 AND kind = 'user'";
        Ok(self.0.run(sql, &[s(login.as_str()), n(suspended as u64)]).await? == 1)
    }

    async fn suspended(&self, login: &Login) -> Result<bool> {
        #[derive(Deserialize)]
        struct Row {
            suspended_at: Option<u64>,
        }
        let row: Option<Row> =
            self.0.first("SELECT suspended_at FROM accounts WHERE login = ?1", &[s(login.as_str())]).await?;
        Ok(row.is_some_and(|r| r.suspended_at.is_some()))
    }

    async fn tokens_of(&self, login: &Login) -> Result<Vec<TokenInfo>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            scopes: String,
            note: Option<String>,
            created_at: u64,
            last_used_at: Option<u64>,
            expires_at: Option<u64>,
            revoked_at: Option<u64>,
        }
        let sql = "SELECT id, scopes, note, created_at, last_used_at, expires_at, revoked_at FROM tokens \
                   WHERE login = ?1 ORDER BY created_at, id LIMIT ?2";
        let rows: Vec<Row> = self.0.rows(sql, &[s(login.as_str()), n(MAX_LISTED as u64)]).await?;
        rows.into_iter()
            .map(|r| {
                Ok(TokenInfo {
                    scopes: Scopes::parse_list(r.scopes.split(' ').filter(|x| !x.is_empty()))
                        .map_err(|_| corrupt("scopes"))?,
                    id: r.id,
                    note: r.note,
                    created_ms: r.created_at,
                    last_used_ms: r.last_used_at,
                    expires_ms: r.expires_at,
                    revoked: r.revoked_at.is_some(),
                })
            })
            .collect()
    }

    async fn touch_token(&self, id: &str, now_ms: u64) -> Result<()> {
        self.0.run("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1", &[s(id), n(now_ms)]).await.map(|_| ())
    }

    async fn create_token(&self, t: &TokenRecord, now_ms: u64) -> Result<()> {
        let sql = "INSERT INTO tokens (id, login, hash, scopes, note, expires_at, revoked_at, created_at) \
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)";
        let args = [
            s(&t.id),
            s(t.login.as_str()),
            s(hex(&t.hash)),
            s(t.scopes.names().join(" ")),
            opt(t.note.as_ref()),
            t.expires_ms.map_or(wasm_bindgen::JsValue::NULL, n),
            n(now_ms),
        ];
        self.0.run(sql, &args).await.map(|_| ())
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let sql = "SELECT id, login, hash, scopes, note, expires_at, revoked_at FROM tokens WHERE id = ?1";
        self.0.first::<TokenRow>(sql, &[s(id)]).await?.map(token_record).transpose()
    }

    async fn token_standing(&self, id: &str, failures: Option<(&str, u64)>) -> Result<TokenStanding> {
        #[derive(Deserialize)]
        struct Row {
            id: Option<String>,
            login: Option<String>,
            hash: Option<String>,
            scopes: Option<String>,
            note: Option<String>,
            expires_at: Option<u64>,
            revoked_at: Option<u64>,
            suspended_at: Option<u64>,
            failures: Option<u32>,
        }
        // One row whatever exists: the token and its user joined to a row of nothing.
        let sql = "SELECT t.id, t.login, t.hash, t.scopes, t.note, t.expires_at, t.revoked_at, a.suspended_at, \
                     (SELECT count FROM auth_failures WHERE key = ?2 AND slot = ?3) AS failures \
                   FROM (SELECT 1) LEFT JOIN tokens t ON t.id = ?1 LEFT JOIN accounts a ON a.login = t.login";
        let (key, window) = failures.unwrap_or(("", 0));
        let row: Option<Row> = self.0.first(sql, &[s(id), s(key), n(window)]).await?;
        let Some(row) = row else { return Ok(TokenStanding::default()) };
        let token = match (row.id, row.login, row.hash, row.scopes) {
            (Some(id), Some(login), Some(hash), Some(scopes)) => {
                let (note, expires_at, revoked_at) = (row.note, row.expires_at, row.revoked_at);
                Some(TokenRow { id, login, hash, scopes, note, expires_at, revoked_at })
            }
            _ => None,
        };
        Ok(TokenStanding {
            record: token.map(token_record).transpose()?,
            suspended: row.suspended_at.is_some(),
            failures: row.failures.unwrap_or(0),
        })
    }

    async fn revoke_token(&self, id: &str, now_ms: u64) -> Result<bool> {
        let sql = "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL";
        Ok(self.0.run(sql, &[s(id), n(now_ms)]).await? == 1)
    }

    async fn package(&self, repo: &RepoName) -> Result<Option<Package>> {
        let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages WHERE repository = ?1");
        self.0.first::<PackageRow>(&sql, &[s(repo.as_str())]).await?.map(PackageRow::package).transpose()
    }

    async fn packages_in(&self, namespace: &str, limit: u32) -> Result<Vec<Package>> {
        // Names in a namespace start with "NAMESPACE/": a range scan of the primary key.
        let sql = format!(
            "SELECT {PACKAGE_COLUMNS} FROM packages WHERE repository > ?1 AND repository < ?2 \
             ORDER BY repository LIMIT ?3"
        );
        let (from, to) = (format!("{namespace}/"), format!("{namespace}0"));
        let rows: Vec<PackageRow> = self.0.rows(&sql, &[s(from), s(to), n(limit as u64)]).await?;
        rows.into_iter().map(PackageRow::package).collect()
    }

    async fn standings_in(&self, namespace: &str, login: Option<&Login>, limit: u32) -> Result<Vec<Standing>> {
        let sql = format!(
            "SELECT {}, \
               (SELECT role FROM package_roles g WHERE g.repository = p.repository AND g.login = ?3) AS granted, \
               (SELECT role FROM org_members m WHERE m.org = ?4 AND m.login = ?3) AS org_role \
             FROM packages p WHERE p.repository > ?1 AND p.repository < ?2 ORDER BY p.repository LIMIT ?5",
            package_columns()
        );
        let (from, to) = (format!("{namespace}/"), format!("{namespace}0"));
        let args = [s(from), s(to), opt(login.map(Login::as_str)), s(namespace), n(limit as u64)];
        let rows: Vec<StandingRow> = self.0.rows(&sql, &args).await?;
        rows.into_iter().map(StandingRow::standing).collect()
    }

    async fn readable_standings(&self, login: Option<&Login>, after: &str, limit: u32) -> Result<Vec<Standing>> {
        // Without a login (NULL) the joins find nothing and only public packages remain.
        let sql = format!(
            "SELECT {}, g.role AS granted, m.role AS org_role FROM packages p \
             LEFT JOIN package_roles g ON g.repository = p.repository AND g.login = ?1 \
             LEFT JOIN org_members m ON m.org = substr(p.repository, 1, instr(p.repository, '/') - 1) \
               AND m.login = ?1 \
             WHERE p.repository > ?2 AND (p.visibility = 'public' OR g.role IS NOT NULL OR m.role = 'owner' \
               OR substr(p.repository, 1, length(?1) + 1) = ?1 || '/') \
             ORDER BY p.repository LIMIT ?3",
            package_columns()
        );
        let rows: Vec<StandingRow> =
            self.0.rows(&sql, &[opt(login.map(Login::as_str)), s(after), n(limit as u64)]).await?;
        rows.into_iter().map(StandingRow::standing).collect()
    }

    async fn public_packages(&self, search: &str, before: Option<&(u64, String)>, limit: u32) -> Result<Vec<Package>> {
        let sql = format!(
            "SELECT {PACKAGE_COLUMNS} FROM packages WHERE visibility = 'public' AND instr(repository, ?1) > 0 \
             AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND repository < ?3)) \
             ORDER BY created_at DESC, repository DESC LIMIT ?4"
        );
        let (ms, name) = match before {
            Some((ms, name)) => (n(*ms), s(name)),
            None => (wasm_bindgen::JsValue::NULL, s("")),
        };
        let rows: Vec<PackageRow> = self.0.rows(&sql, &[s(search), ms, name, n(limit as u64)]).await?;
        rows.into_iter().map(PackageRow::package).collect()
    }

    async fn create_package(&self, repo: &RepoName, creator: &Login, now_ms: u64) -> Result<()> {
        let args = [s(repo.as_str()), s(creator.as_str()), n(now_ms)];
        self.0
            .batch(vec![
                self.0.stmt(
                    "INSERT OR IGNORE INTO packages (repository, visibility, created_at, created_by, id) \
                     VALUES (?1, 'private', ?3, ?2, ?4)",
                    &[s(repo.as_str()), s(creator.as_str()), n(now_ms), s(new_package_id()?)],
                )?,
                // The creator becomes admin only of a package created by this very call.
                self.0.stmt(
                    "INSERT OR IGNORE INTO package_roles (repository, login, role) SELECT ?1, ?2, 'admin' \
                     WHERE EXISTS (SELECT 1 FROM packages WHERE repository = ?1 AND created_by = ?2 AND created_at = ?3)",
                    &args,
                )?,
            ])
            .await
            .map(|_| ())
    }

    async fn set_collect_untagged(&self, repo: &RepoName, collect: bool) -> Result<()> {
        let sql = "UPDATE packages SET collect_untagged = ?2 WHERE repository = ?1";
        self.0.run(sql, &[s(repo.as_str()), n(collect as u64)]).await.map(|_| ())
    }

    async fn bump_content_epoch(&self, repo: &RepoName) -> Result<()> {
        let sql = "UPDATE packages SET content_epoch = content_epoch + 1 WHERE repository = ?1";
        self.0.run(sql, &[s(repo.as_str())]).await.map(|_| ())
    }

    async fn packages_collecting_untagged(&self, after: &str, limit: u32) -> Result<Vec<RepoName>> {
        #[derive(Deserialize)]
        struct Row {
            repository: String,
        }
        let sql = "SELECT repository FROM packages WHERE collect_untagged = 1 AND repository > ?1 \
                   ORDER BY repository LIMIT ?2";
        let rows: Vec<Row> = self.0.rows(sql, &[s(after), n(limit as u64)]).await?;
        rows.into_iter().map(|r| RepoName::parse(&r.repository).map_err(|_| corrupt("repository"))).collect()
    }

    async fn set_visibility(&self, repo: &RepoName, visibility: Visibility) -> Result<()> {
        let sql = "UPDATE packages SET visibility = ?2 WHERE repository = ?1";
        self.0.run(sql, &[s(repo.as_str()), s(visibility.as_str())]).await.map(|_| ())
    }

    async fn collaborator_role(&self, repo: &RepoName, login: &Login) -> Result<Option<Role>> {
        let sql = "SELECT role FROM package_roles WHERE repository = ?1 AND login = ?2";
        let row: Option<RoleRow> = self.0.first(sql, &[s(repo.as_str()), s(login.as_str())]).await?;
        row.map(|r| Role::parse(&r.role).map_err(|_| corrupt("role"))).transpose()
    }

    async fn set_collaborator(&self, repo: &RepoName, login: &Login, role: Role) -> Result<()> {
        let sql = "INSERT INTO package_roles (repository, login, role) VALUES (?1, ?2, ?3) \
                   ON CONFLICT (repository, login) DO UPDATE SET role = excluded.role";
        self.0.run(sql, &[s(repo.as_str()), s(login.as_str()), s(role.as_str())]).await.map(|_| ())
    }

    async fn remove_collaborator(&self, repo: &RepoName, login: &Login) -> Result<bool> {
        let sql = "DELETE FROM package_roles WHERE repository = ?1 AND login = ?2";
        Ok(self.0.run(sql, &[s(repo.as_str()), s(login.as_str())]).await? == 1)
    }

    async fn collaborators(&self, repo: &RepoName) -> Result<Vec<(Login, Role)>> {
        let sql = "SELECT login, role FROM package_roles WHERE repository = ?1 ORDER BY login";
        let rows: Vec<CollaboratorRow> = self.0.rows(sql, &[s(repo.as_str())]).await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    Login::parse(&r.login).map_err(|_| corrupt("login"))?,
                    Role::parse(&r.role).map_err(|_| corrupt("role"))?,
                ))
            })
            .collect()
    }

    async fn auth_failures(&self, key: &str, window: u64) -> Result<u32> {
        let sql = "SELECT count FROM auth_failures WHERE key = ?1 AND slot = ?2";
        let row: Option<CountRow> = self.0.first(sql, &[s(key), n(window)]).await?;
        Ok(row.map_or(0, |r| r.count))
    }

    async fn record_auth_failure(&self, key: &str, window: u64) -> Result<u32> {
        let sql = "INSERT INTO auth_failures (key, slot, count) VALUES (?1, ?2, 1) \
                   ON CONFLICT (key, slot) DO UPDATE SET count = count + 1 RETURNING count";
        let row: Option<CountRow> = self.0.first(sql, &[s(key), n(window)]).await?;
        Ok(row.map_or(1, |r| r.count))
    }

    async fn prune_auth_failures(&self, window: u64) -> Result<()> {
        self.0.run("DELETE FROM auth_failures WHERE slot < ?1", &[n(window)]).await.map(|_| ())
    }
}

#[derive(Deserialize)]
struct CountRow {
    count: u32,
}

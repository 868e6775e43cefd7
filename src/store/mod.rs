//! All SQL lives here, one module per aggregate. Every function that reads workspace data
//! takes the workspace id (or ids) and filters by it, even when the caller already checked
//! access. Functions take a connection so services can compose them in one transaction.
pub mod audit;
pub mod baselines;
pub mod casbin_rules;
pub mod evidence;
pub mod exceptions;
pub mod findings;
pub mod operation_runs;
pub mod policies;
pub mod preferences;
pub mod settings;
pub mod tenants;
pub mod users;
pub mod workspaces;

/// The connection type every store function takes.
pub type Conn = diesel_async::AsyncPgConnection;

/// Escapes `%`, `_` and `\` for a LIKE pattern and wraps it in `%...%`.
pub fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A window of rows: skip `offset`, take `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub offset: i64,
    pub limit: i64,
}

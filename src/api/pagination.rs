//! Relay cursor connections. Cursors are opaque offsets into the ordered result; the page
//! size is capped at [`MAX_PAGE_SIZE`].
use async_graphql::{
    connection::{Connection, CursorType, Edge},
    OutputType, SimpleObject,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use crate::{error::AppError, error::AppResult, store::Window};

/// Largest `first`/`last` accepted.
pub const MAX_PAGE_SIZE: usize = 100;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// Complexity of a list field: its page size (a missing or zero size counts as the default
/// or one; anything above the cap counts as the cap, which `window` then rejects) times
/// its children. Saturating, so huge arguments cannot overflow the check.
pub fn list_complexity(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let n = first
        .or(last)
        .unwrap_or(DEFAULT_PAGE_SIZE as i32)
        .clamp(1, MAX_PAGE_SIZE as i32) as usize;
    n.saturating_mul(child.max(1)).saturating_add(1)
}

/// An opaque position in a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetCursor(pub usize);

impl CursorType for OffsetCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "invalid cursor".to_string())?;
        let text = String::from_utf8(bytes).map_err(|_| "invalid cursor".to_string())?;
        text.strip_prefix("offset:")
            .and_then(|n| n.parse().ok())
            .map(OffsetCursor)
            .ok_or_else(|| "invalid cursor".to_string())
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("offset:{}", self.0))
    }
}

/// Extra connection fields.
#[derive(SimpleObject)]
pub struct ConnectionFields {
    /// Number of items in the whole connection, across all pages.
    pub total_count: i64,
}

/// The four Relay arguments.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }

    /// Which rows to fetch out of `total`.
    pub fn window(&self, total: usize) -> AppResult<Window> {
        let size = |v: Option<i32>, field: &str| -> AppResult<Option<usize>> {
            match v {
                None => Ok(None),
                Some(n) if n < 0 => Err(AppError::bad_input(field, "must not be negative")),
                Some(n) if n as usize > MAX_PAGE_SIZE => Err(AppError::bad_input(
                    field,
                    format!("must be at most {MAX_PAGE_SIZE}"),
                )),
                Some(n) => Ok(Some(n as usize)),
            }
        };
        let first = size(self.first, "first")?;
        let last = size(self.last, "last")?;
        let decode = |c: &Option<String>, field: &str| -> AppResult<Option<usize>> {
            c.as_deref()
                .map(|s| {
                    OffsetCursor::decode_cursor(s)
                        .map(|c| c.0)
                        .map_err(|e| AppError::bad_input(field, e))
                })
                .transpose()
        };
        let mut start = decode(&self.after, "after")?.map_or(0, |a| a.saturating_add(1));
        let mut end = decode(&self.before, "before")?.map_or(total, |b| b.min(total));
        start = start.min(end);
        match (first, last) {
            (Some(f), _) => {
                end = end.min(start.saturating_add(f));
                if let Some(l) = last {
                    start = start.max(end.saturating_sub(l));
                }
            }
            (None, Some(l)) => start = start.max(end.saturating_sub(l)),
            (None, None) => end = end.min(start.saturating_add(DEFAULT_PAGE_SIZE)),
        }
        Ok(Window {
            offset: start as i64,
            limit: (end - start) as i64,
        })
    }
}

impl PageArgs {
    /// The window to ask a batched loader for: for forward pages it does not depend on
    /// each parent's total, so sibling lists share one key shape and one statement.
    pub fn loader_window(&self, total: usize) -> AppResult<Window> {
        if self.last.is_none() && self.before.is_none() {
            self.window(usize::MAX / 2)
        } else {
            self.window(total)
        }
    }
}

/// A connection over `items` (the rows of `window`) out of `total`.
pub type Conn<T> = Connection<OffsetCursor, T, ConnectionFields>;

pub fn connection<T: OutputType>(items: Vec<T>, window: Window, total: i64) -> Conn<T> {
    let start = window.offset as usize;
    let end = start + items.len();
    let mut conn = Connection::with_additional_fields(
        start > 0,
        (end as i64) < total,
        ConnectionFields { total_count: total },
    );
    conn.edges.extend(
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| Edge::new(OffsetCursor(start + i), item)),
    );
    conn
}

/// Paginates an in-memory list (small child lists loaded whole by a DataLoader).
pub fn paginate_vec<T: OutputType>(items: Vec<T>, args: &PageArgs) -> AppResult<Conn<T>> {
    let total = items.len();
    let window = args.window(total)?;
    let page = items
        .into_iter()
        .skip(window.offset as usize)
        .take(window.limit as usize)
        .collect();
    Ok(connection(page, window, total as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(n: usize) -> Option<String> {
        Some(OffsetCursor(n).encode_cursor())
    }

    #[test]
    fn first_and_after_walk_forward() {
        let w = PageArgs::new(Some(2), cursor(1), None, None)
            .window(10)
            .unwrap();
        assert_eq!((w.offset, w.limit), (2, 2));
    }

    #[test]
    fn last_and_before_walk_backward() {
        let w = PageArgs::new(None, None, Some(3), cursor(5))
            .window(10)
            .unwrap();
        assert_eq!((w.offset, w.limit), (2, 3));
        let w = PageArgs::new(None, None, Some(3), None).window(10).unwrap();
        assert_eq!((w.offset, w.limit), (7, 3));
    }

    #[test]
    fn page_size_is_capped_and_cursors_checked() {
        assert!(PageArgs::new(Some(101), None, None, None)
            .window(10)
            .is_err());
        assert!(PageArgs::new(Some(-1), None, None, None)
            .window(10)
            .is_err());
        assert!(PageArgs::new(Some(1), Some("garbage".into()), None, None)
            .window(10)
            .is_err());
        let w = PageArgs::default().window(500).unwrap();
        assert_eq!(w.limit, DEFAULT_PAGE_SIZE as i64);
    }

    #[test]
    fn huge_cursors_and_sizes_do_not_overflow() {
        let w = PageArgs::new(
            Some(2),
            Some(OffsetCursor(usize::MAX).encode_cursor()),
            None,
            None,
        )
        .window(10)
        .unwrap();
        assert_eq!(w.limit, 0);
        assert_eq!(
            list_complexity(Some(i32::MAX), None, usize::MAX),
            usize::MAX
        );
        assert_eq!(list_complexity(Some(0), None, 3), 4);
    }

    #[test]
    fn after_past_the_end_is_empty() {
        let w = PageArgs::new(Some(5), cursor(20), None, None)
            .window(10)
            .unwrap();
        assert_eq!(w.limit, 0);
    }
}

//! The connections that read kept streams in this process (resumptions, SEP-1699): each
//! stream has at most one here, holding one of its caller's stream slots; a newer resumption
//! of the same stream supersedes the older one and takes its slot over, so that a client that
//! reconnects in a loop holds one slot, not one per connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::mcp::StreamSlot;

/// The reading connections of this process, by stream id.
#[derive(Default)]
pub(crate) struct Readers {
    table: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    generation: u64,
    /// Held while any reader of the stream is open here.
    _slot: StreamSlot,
    /// The current generation, for readers to notice they were superseded.
    current: watch::Sender<u64>,
}

/// One connection reading a stream; dropping it frees the stream's slot unless a newer
/// reader took it over.
pub(crate) struct Reader {
    readers: Arc<Readers>,
    stream: String,
    generation: u64,
    current: watch::Receiver<u64>,
}

impl Readers {
    /// Makes a new connection the reader of `stream`, superseding the one reading it here, if
    /// any, and taking its slot over; otherwise the slot comes from `slot`. `None` when there
    /// is no reader to take over and `slot` gives none (the caller holds its maximum).
    pub(crate) fn enter(
        self: &Arc<Self>,
        stream: &str,
        slot: impl FnOnce() -> Option<StreamSlot>,
    ) -> Option<Reader> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let entry = match table.get_mut(stream) {
            Some(entry) => entry,
            None => table.entry(stream.to_owned()).or_insert(Entry {
                generation: 0,
                _slot: slot()?,
                current: watch::channel(0).0,
            }),
        };
        entry.generation += 1;
        let generation = entry.generation;
        entry.current.send_replace(generation);
        Some(Reader {
            readers: self.clone(),
            stream: stream.to_owned(),
            generation,
            current: entry.current.subscribe(),
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Reader {
    /// Whether a newer connection took the stream over.
    #[cfg(test)]
    fn superseded(&self) -> bool {
        *self.current.borrow() != self.generation
    }

    /// Waits until a newer connection takes the stream over.
    pub(crate) async fn until_superseded(&mut self) {
        let generation = self.generation;
        // An error: the entry is gone, which only a newer reader's end does.
        let _ = self
            .current
            .wait_for(|current| *current != generation)
            .await;
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut table = self.readers.table.lock().unwrap_or_else(|e| e.into_inner());
        if table
            .get(&self.stream)
            .is_some_and(|entry| entry.generation == self.generation)
        {
            table.remove(&self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::OpenStreams;

    #[test]
    fn readers_of_one_stream_share_one_slot_and_the_newest_wins() {
        let streams = OpenStreams::new(1);
        let readers = Arc::new(Readers::default());
        let first = readers.enter("s", || streams.open("p".into())).unwrap();
        let second = readers.enter("s", || streams.open("p".into())).unwrap();
        assert!(first.superseded() && !second.superseded());
        // The slot is taken: another stream of the same caller gets none.
        assert!(readers.enter("t", || streams.open("p".into())).is_none());
        drop(first);
        assert_eq!(
            readers.len(),
            1,
            "an older reader leaving keeps the newer's slot"
        );
        drop(second);
        assert_eq!(readers.len(), 0);
        assert!(readers.enter("t", || streams.open("p".into())).is_some());
    }
}

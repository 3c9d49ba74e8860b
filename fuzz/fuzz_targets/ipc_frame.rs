//! The IPC frame decoder must not panic on any frame (a confused or hostile
//! peer must only get its connection reset), and whatever decodes must
//! encode to a frame that decodes to the same message and encodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upkeep::ipc::{self, IpcError};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = ipc::decode(data) else { return };
    let frame = match ipc::encode(&msg) {
        Ok(frame) => frame,
        // Fields left out of the input come back with their defaults, which
        // can push a frame close to the limit over it.
        Err(IpcError::TooLarge(_)) => return,
        Err(e) => panic!("a decoded {} does not encode: {e}\n{msg:#?}", msg.kind()),
    };
    let again = ipc::decode(&frame)
        .unwrap_or_else(|e| panic!("the re-encoded frame does not decode: {e}\n{msg:#?}"));
    assert_eq!(again, msg, "the round trip changed the message");
    let twice = ipc::encode(&again).ok();
    assert_eq!(twice.as_deref(), Some(&frame[..]), "encoding is not stable");
});

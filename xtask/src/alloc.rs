//! The allocator of the xtask binary, so of every benchmark child: glibc's (Rust's `System`)
//! unless `XTASK_ALLOCATOR=jemalloc` is in the environment, when it is jemalloc, the allocator
//! Python Polars ships on Linux (`cargo xtask bench --allocator jemalloc` sets it for the
//! children). Which one is read once, at the first allocation, with `getenv`, which allocates
//! nothing; every block is then freed by the allocator that made it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use tikv_jemallocator::Jemalloc;

/// The environment variable that picks jemalloc.
pub const ENV: &str = "XTASK_ALLOCATOR";

/// `System` or `Jemalloc`, as the environment says at the first allocation.
#[derive(Debug)]
pub struct Chosen;

/// 0: not read yet; 1: glibc's; 2: jemalloc.
static CHOICE: AtomicU8 = AtomicU8::new(0);

fn jemalloc() -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            // SAFETY: `getenv` with a NUL-terminated name; the value is read before anything
            // could change the environment (the first allocation precedes `main`), and
            // threads racing here read the same value.
            let chosen = unsafe {
                let v = libc::getenv(c"XTASK_ALLOCATOR".as_ptr());
                !v.is_null() && std::ffi::CStr::from_ptr(v) == c"jemalloc"
            };
            CHOICE.store(if chosen { 2 } else { 1 }, Ordering::Relaxed);
            chosen
        }
    }
}

/// The allocator of this process: the same from its first allocation to its end.
fn chosen() -> &'static dyn GlobalAlloc {
    match jemalloc() {
        true => &Jemalloc,
        false => &System,
    }
}

// SAFETY: every call goes to one allocator, the same for the process's lifetime, so a block
// is freed or grown by the allocator that made it.
unsafe impl GlobalAlloc for Chosen {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { chosen().alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { chosen().alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's guarantees, passed on; `ptr` came from the same allocator.
        unsafe { chosen().dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's guarantees, passed on; `ptr` came from the same allocator.
        unsafe { chosen().realloc(ptr, layout, new_size) }
    }
}

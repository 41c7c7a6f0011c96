import CEvent
import Foundation

/// The single-threaded event loop everything in kxoverd runs on (libevent).
///
/// A loop and everything registered on it belong to the thread that runs it:
/// the class is deliberately not Sendable, so Swift 6 refuses to hand it to
/// another thread. Other threads reach the loop only through `executor`,
/// which queues Sendable work and wakes the loop through an eventfd.
public final class EventLoop {
    let loop: OpaquePointer
    public let executor: LoopExecutor
    private var wakeWatch: Watch?
    private(set) var thread: pthread_t?

    public init() throws {
        guard let loop = kx_loop_new() else { throw LoopError("event_base_new failed") }
        self.loop = loop
        let fd = kx_wake_fd_new()
        guard fd >= 0 else {
            kx_loop_free(loop)
            throw LoopError("eventfd: \(String(cString: strerror(errno)))")
        }
        executor = LoopExecutor(wakeFD: fd)
        wakeWatch = watch(fd: fd, events: .readable) { [executor] _ in executor.drain() }
    }

    deinit {
        wakeWatch?.cancel()
        wakeWatch = nil
        executor.close()
        kx_loop_free(loop)
    }

    /// Runs until `stop()` or until nothing is registered. Marks the calling
    /// thread as the loop's thread.
    public func run() {
        thread = pthread_self()
        executor.ownerThread.withLock { $0 = pthread_self() }
        kx_loop_run(loop)
    }

    /// Runs the loop until `condition` holds or `timeout` seconds pass. For
    /// tests and tools that drive the loop from their own thread.
    @discardableResult
    public func run(until condition: () -> Bool, timeout: Double) -> Bool {
        thread = pthread_self()
        executor.ownerThread.withLock { $0 = pthread_self() }
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            // One pass, waking at least every 10 ms to re-check the condition.
            let tick = schedule(after: min(left, 0.01)) {}
            kx_loop_run_once(loop)
            tick.cancel()
        }
        return true
    }

    public func stop() {
        kx_loop_break(loop)
    }

    /// After the last `run`: work queued from now on is dropped, and so is
    /// work still queued, releasing what it captured (which may include
    /// this loop's owners).
    public func refuseFurtherWork() {
        executor.refuseFurtherWork()
    }

    /// True on the loop's own thread (or before the loop ever ran).
    public var isOnLoopThread: Bool {
        guard let thread else { return true }
        return pthread_equal(thread, pthread_self()) != 0
    }

    // MARK: - Registrations

    public struct Events: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: Int16(KX_EV_READ))
        public static let writable = Events(rawValue: Int16(KX_EV_WRITE))
        public static let timeout = Events(rawValue: Int16(KX_EV_TIMEOUT))
    }

    /// Calls `handler` whenever `fd` is ready, until the watch is cancelled.
    public func watch(fd: Int32, events: Events, handler: @escaping (Events) -> Void) -> Watch {
        let watch = Watch(loop: loop, fd: fd, flags: events.rawValue | Int16(KX_EV_PERSIST), handler: handler)
        watch.add(timeout: nil)
        return watch
    }

    /// Calls `body` once after `seconds`, unless cancelled first.
    @discardableResult
    public func schedule(after seconds: Double, _ body: @escaping () -> Void) -> Watch {
        var watch: Watch?
        watch = Watch(loop: loop, fd: -1, flags: 0) { _ in
            watch?.cancel()
            watch = nil
            body()
        }
        let timer = watch!
        timer.add(timeout: seconds)
        return timer
    }

    /// A timer for `body` that its owner sets and clears again and again
    /// (`ReusableTimer`), where `schedule` would allocate anew each time.
    public func timer(_ body: @escaping () -> Void) -> ReusableTimer {
        ReusableTimer(loop: loop, body: body)
    }

    /// Calls `body` on the loop whenever `signal` arrives (libevent's signal handling).
    public func onSignal(_ signal: Int32, _ body: @escaping () -> Void) -> Watch {
        let watch = Watch(loop: loop, fd: signal, flags: Int16(KX_EV_SIGNAL | KX_EV_PERSIST)) { _ in body() }
        watch.add(timeout: nil)
        return watch
    }
}

public struct LoopError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One registration on the loop: an fd watch, a timer or a signal. Cancelling
/// is idempotent and releases the handler; so does dropping the last reference.
public final class Watch {
    fileprivate var event: OpaquePointer?
    private var box: Unmanaged<HandlerBox>?

    final class HandlerBox {
        let handler: (EventLoop.Events) -> Void
        init(_ handler: @escaping (EventLoop.Events) -> Void) { self.handler = handler }
    }

    fileprivate init(loop: OpaquePointer, fd: Int32, flags: Int16, handler: @escaping (EventLoop.Events) -> Void) {
        let box = Unmanaged.passRetained(HandlerBox(handler))
        self.box = box
        event = kx_event_new(loop, fd, flags, { _, what, context in
            // Runs on the loop thread; the box outlives the event (freed in cancel).
            // Kept alive for the call: a handler may cancel its own watch.
            let box = Unmanaged<HandlerBox>.fromOpaque(context!).takeUnretainedValue()
            withExtendedLifetime(box) { box.handler(EventLoop.Events(rawValue: what)) }
        }, box.toOpaque())
    }

    fileprivate func add(timeout seconds: Double?) {
        guard let event else { return }
        kx_event_add(event, seconds ?? -1)
    }

    public var isActive: Bool { event != nil }

    /// Takes a pending timer off the loop, keeping it for a later `add`.
    fileprivate func remove() {
        if let event { kx_event_del(event) }
    }

    public func cancel() {
        if let event {
            kx_event_free(event)
            self.event = nil
        }
        box?.release()
        box = nil
    }

    deinit { cancel() }
}

/// A timer set and cleared without allocating: the relay arms one per
/// request, on sockets and connections that outlive their requests. Unlike
/// `schedule`, it does not keep itself alive: dropping it cancels it, so its
/// body may capture its owner weakly and the owner simply holds it.
public final class ReusableTimer {
    private var watch: Watch?
    public private(set) var isSet = false

    fileprivate init(loop: OpaquePointer, body: @escaping () -> Void) {
        // Unowned: the watch dies with the timer (deinit), so it never fires after.
        watch = Watch(loop: loop, fd: -1, flags: 0) { [unowned self] _ in
            self.isSet = false
            body()
        }
    }

    /// Fires once after `seconds` from now, replacing any earlier setting.
    public func set(after seconds: Double) {
        isSet = true
        watch?.add(timeout: seconds)
    }

    public func clear() {
        guard isSet else { return }
        isSet = false
        watch?.remove()
    }

    deinit { watch?.cancel() }
}

/// A watch held by its owner that is cancelled whenever it is replaced or
/// set to nil. Needed for timers: a pending `schedule` keeps itself alive
/// (that is what lets callers fire and forget), so dropping the owner's
/// reference alone would leave it to fire.
@propertyWrapper
public struct CancelledWhenReplaced {
    private var watch: Watch?

    public init(wrappedValue: Watch?) {
        watch = wrappedValue
    }

    public var wrappedValue: Watch? {
        get { watch }
        set {
            if watch !== newValue { watch?.cancel() }
            watch = newValue
        }
    }
}

/// The Sendable door into a loop from other threads: queued closures run on
/// the loop thread in order.
public final class LoopExecutor: Sendable {
    private let wakeFD: Int32
    private let queue = Mutex<[@Sendable () -> Void]>([])
    fileprivate let ownerThread = Mutex<pthread_t?>(nil)
    private let closed = Mutex(false)

    fileprivate init(wakeFD: Int32) {
        self.wakeFD = wakeFD
    }

    /// Queues `work` for the loop thread. Safe from any thread; after the loop
    /// is gone the work is dropped.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let accepted = closed.withLock { isClosed -> Bool in
            guard !isClosed else { return false }
            queue.withLock { $0.append(work) }
            return true
        }
        guard accepted else { return }
        kx_wake_fd_signal(wakeFD)
    }

    fileprivate func drain() {
        kx_wake_fd_drain(wakeFD)
        let work = queue.withLock { items -> [@Sendable () -> Void] in
            defer { items.removeAll() }
            return items
        }
        for item in work { item() }
    }

    fileprivate func refuseFurtherWork() {
        closed.withLock { $0 = true }
        queue.withLock { $0.removeAll() }
    }

    fileprivate func close() {
        closed.withLock { $0 = true }
        Glibc.close(wakeFD)
    }

    /// True when called on the loop's thread.
    public var inLoopThread: Bool {
        ownerThread.withLock { owner in owner.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }
}

/// A small lock-protected value (Synchronization's Mutex needs newer OS
/// availability annotations than this package declares).
public final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    public init(_ value: Value) { self.value = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Carries a non-Sendable value across threads to be used only back on its
/// loop: a worker posts `LoopBound` completions through the executor. Access
/// from any other thread traps.
public struct LoopBound<Value>: @unchecked Sendable {
    private let stored: Value
    private let executor: LoopExecutor

    public init(_ value: Value, executor: LoopExecutor) {
        self.stored = value
        self.executor = executor
    }

    public var value: Value {
        precondition(executor.inLoopThread, "LoopBound value used off its event loop thread")
        return stored
    }
}

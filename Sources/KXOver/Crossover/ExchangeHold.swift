/// What an exchange holds while it runs, released together when it ends:
/// the operation in flight, the stage timer, the overall deadline, and any
/// exported key bytes (zeroed). Both records unwind through one of these.
final class ExchangeHold {
    var inFlight: Cancellable?
    var material: KeyMaterial?
    private var stageTimer: Cancellable?
    private var deadline: Cancellable?
    private let timers: Timers

    init(timers: Timers) {
        self.timers = timers
    }

    func startDeadline(_ seconds: Double, _ onExpiry: @escaping () -> Void) {
        deadline = timers.schedule(after: seconds, onExpiry)
    }

    /// One timer per stage: arming replaces the previous stage's.
    func armStage(_ seconds: Double, _ onTimeout: @escaping () -> Void) {
        stageTimer?.cancel()
        stageTimer = timers.schedule(after: seconds) { [weak self] in
            self?.stageTimer = nil
            onTimeout()
        }
    }

    func disarmStage() {
        stageTimer?.cancel()
        stageTimer = nil
    }

    func releaseAll() {
        inFlight?.cancel()
        inFlight = nil
        disarmStage()
        deadline?.cancel()
        deadline = nil
        material?.zeroize()
        material = nil
    }
}

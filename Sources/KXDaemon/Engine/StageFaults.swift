import Foundation
import KXOver
import Logging

/// Fault injection for the scenario scripts (scripts/e2e-faults, scripts/e2e):
/// kxoverd stops itself (SIGSTOP) as an exchange enters the named stage,
/// before the stage's work begins, so that a test can kill it at exactly that
/// point. Wired in only by kxoverd's --debug-stop-at-stage option; never on
/// by default, and kxoverd says so in its log when it is.
public final class StageFaults {
    /// A stage name as logged ("C11 key storing") or its number ("C11").
    public let stopAt: String
    private let logger: Logger

    public init(stopAt: String, logger: Logger) {
        self.stopAt = stopAt
        self.logger = logger
    }

    func stageEntered(_ stage: CrossoverStage) {
        guard stage.name == stopAt || stage.number == stopAt else { return }
        logger.warning("--debug-stop-at-stage: stopping the process on entering \(stage)")
        raise(SIGSTOP)
    }
}

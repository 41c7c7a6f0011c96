import Foundation

/// Seconds on a clock that never goes back (since boot), for durations,
/// expiries and the `Clock` port's uptime; wall time would jump with NTP.
public enum MonotonicClock {
    public static func seconds() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
}

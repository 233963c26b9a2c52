import Foundation

/// The drill's questions to its Prometheus beyond what the watch records: are the targets up, and has every
/// alert cleared.
extension PrometheusWatch {
    /// Waits at most `seconds` until every active target of every job is up, and that there are targets of
    /// both jobs; nil then, else what is not up (e.g. "cashierd 1/2 up").
    func waitForTargetsUp(seconds: Double) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        var last = "Prometheus did not answer"
        while true {
            let health = targetHealth()
            let short = ["cashierd", "patroni"].compactMap { job -> String? in
                guard let h = health[job] else { return "no \(job) targets" }
                return h.up == h.total ? nil : "\(job) \(h.up)/\(h.total) up"
            }
            if !health.isEmpty && short.isEmpty { return nil }
            if !health.isEmpty { last = short.joined(separator: ", ") }
            if Date() >= deadline { return last }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    /// Waits at most `seconds` until Prometheus has no alert firing; returns what still fires at the end
    /// (empty when all cleared).
    func waitUntilNothingFires(seconds: Double) -> [String] {
        let started = Date()
        var firing: [String] = ["(Prometheus did not answer)"]
        while Date().timeIntervalSince(started) < seconds {
            if let now = firingNow() {
                firing = now.sorted()
                if firing.isEmpty { break }
            }
            Thread.sleep(forTimeInterval: 1)
        }
        return firing
    }
}

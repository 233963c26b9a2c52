import Foundation

/// `cashier-drill alert-rules` and the hidden `cashier-drill watch-alerts` (for tests and for a look by hand).
///
///   alert-rules --rules FILE --divide N [--minimum S]
///       prints FILE with every duration of `for:` and of range selectors divided by N (rounded up, at least
///       S seconds, 1 by default): the production rules on the drill's time scale
///   watch-alerts --prometheus URL --seconds N [--until-cleared ALERT]
///       watches URL's alerts for N seconds (or until ALERT has fired and stopped firing) and prints one line
///       of JSON: {"seconds": …, "alerts": {NAME: [[start, end or null while firing], …]}, "targets": {JOB: {"up": …, "total": …}},
///       "polls": …, "failedPolls": …}, times in seconds since the watch began
func prometheusCommand(_ command: String, _ options: Options) throws -> Int32 {
    switch command {
    case "alert-rules":
        let path = try options.required("rules")
        guard let factor = Int(try options.required("divide")), (1...100_000).contains(factor) else {
            throw UsageError("--divide is 1–100000")
        }
        var minimum = 1
        if let m = options.value("minimum") {
            guard let v = Int(m), (0...86_400).contains(v) else { throw UsageError("--minimum is 0–86400 (seconds)") }
            minimum = v
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        FileHandle.standardOutput.write(Data(DrillAlertRules.scaled(text, dividedBy: factor, minimumSeconds: minimum).utf8))
        return 0
    case "watch-alerts":
        let url = try options.required("prometheus")
        guard let seconds = Double(try options.required("seconds")), seconds > 0, seconds <= 3_600 else {
            throw UsageError("--seconds is 0–3600")
        }
        let until = options.value("until-cleared")
        let watch = PrometheusWatch(baseURL: url)
        watch.start()
        while watch.elapsed < seconds {
            if let until, !watch.intervals(until).isEmpty, watch.clearedBy(until, watch.elapsed) { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        watch.stop()
        let alerts = watch.allIntervals.mapValues { $0.map { [$0.start, $0.end.map { $0 as Any } ?? NSNull()] } }
        let targets = watch.targetHealth().mapValues { ["up": $0.up, "total": $0.total] }
        let summary = watch.pollSummary
        let json: [String: Any] = ["seconds": watch.elapsed, "alerts": alerts, "targets": targets,
                                   "polls": summary.polls, "failedPolls": summary.failures]
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        return 0
    default:
        throw UsageError("unknown command \(command)")
    }
}

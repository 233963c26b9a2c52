import Foundation
import TestSupport
import XCTest

/// The drill's Prometheus pieces with a real Prometheus: the production alert rules on the drill's time scale
/// (`cashier-drill alert-rules`), `scripts/prometheus-local.sh`, and the drill's watcher (`cashier-drill watch-alerts`)
/// seeing CashierdInstanceDown fire while a real cashierd is killed and clear once it is back.
final class PrometheusDrillTests: XCTestCase {
    private var repository: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }
    private var drill: String { productsDirectory() + "/cashier-drill" }

    /// The path of `name` on PATH (or in /usr/bin, /usr/sbin), if it is installed.
    private func installed(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin"]
        return path.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private func requirePrometheus() throws -> (prometheus: String, promtool: String) {
        guard let prometheus = installed("prometheus"), let promtool = installed("promtool") else {
            throw XCTSkip("prometheus is not installed (scripts/install-deps.sh installs the prometheus package)")
        }
        return (prometheus, promtool)
    }

    /// The production rules divided by 20 with a 2 s minimum, as the drill runs them.
    private func scaledRules(into directory: TemporaryDirectory) throws -> (path: String, text: String) {
        let r = try runCommand(drill, ["alert-rules", "--rules", repository + "/deploy/prometheus/alerts.yml", "--divide", "20", "--minimum", "2"],
                               timeoutSeconds: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        let path = directory.file("alerts.yml")
        try r.stdout.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, r.stdout)
    }

    func testScaledProductionRulesPassPromtool() throws {
        let (_, promtool) = try requirePrometheus()
        let directory = try TemporaryDirectory(prefix: "prom-rules")
        let (path, text) = try scaledRules(into: directory)
        let check = try runCommand(promtool, ["check", "rules", path], timeoutSeconds: 30)
        XCTAssertEqual(check.status, 0, "promtool rejects the scaled rules: \(check.stdout) \(check.stderr)")
        XCTAssertTrue(check.stdout.contains("SUCCESS: 16 rules found"), check.stdout)

        let original = try String(contentsOfFile: repository + "/deploy/prometheus/alerts.yml", encoding: .utf8)
        let before = original.components(separatedBy: "\n"), after = text.components(separatedBy: "\n")
        XCTAssertEqual(before.count, after.count)
        // CashierdInstanceDown: `for: 1m` is 3 s; CashierdBaseUnreachable's `for: 30s` is 1.5 s, raised to the 2 s minimum.
        let down = try XCTUnwrap(after.firstIndex { $0.contains("alert: CashierdInstanceDown") })
        XCTAssertEqual(after[down + 2].trimmingCharacters(in: .whitespaces), "for: 3s")
        let base = try XCTUnwrap(after.firstIndex { $0.contains("alert: CashierdBaseUnreachable") })
        XCTAssertEqual(after[base + 2].trimmingCharacters(in: .whitespaces), "for: 2s")
        XCTAssertTrue(text.contains("cashierd_database_reconnects_total{job=\"cashierd\"}[30s]"), "[10m] is not [30s]")
        XCTAssertTrue(text.contains("outcome=\"reversed\"}[180s]"), "[1h] is not [180s]")
        XCTAssertTrue(text.contains("cashierd_group_hops_total{job=\"cashierd\"}[6s]"), "[2m] is not [6s]")
        for unscaled in ["for: 1m", "for: 2m", "for: 30s", "[2m]", "[10m]", "[1h]"] {
            XCTAssertFalse(text.contains(unscaled), "\(unscaled) is left")
        }
        // Only durations change: comments and annotations stay as they were.
        for (a, b) in zip(before, after) where !a.contains("for:") && !a.contains("expr:") { XCTAssertEqual(a, b) }
        XCTAssertTrue(text.contains("summary: \"cashierd {{ $labels.instance }} does not answer /metrics\""))
    }

    /// Subqueries, quoted and block expressions, `offset`, and brackets inside PromQL strings and comments.
    func testScalingRewritesOnlyDurationsOfForAndRangeSelectors() throws {
        let directory = try TemporaryDirectory(prefix: "prom-rules")
        let rules = """
        groups:
          - name: x
            rules:
              - alert: A
                expr: |
                  sum(rate(x{code=~"[5m]"}[5m])) # a [10m] comment
                    / max_over_time(y[1h:1m])
                for: "1m30s"  # wait
                annotations:
                  description: "for: 1m in [2m]"
              - alert: B
                expr: "rate(x{a=\\"[1m]\\"}[90s]) > 0"
                for: 0s
              - alert: C
                expr: 'rate(x{a=''[1m]''}[ 2m : ]) > 0 and y offset 5m'
                keep_firing_for: 10m
        """
        let expected = """
        groups:
          - name: x
            rules:
              - alert: A
                expr: |
                  sum(rate(x{code=~"[5m]"}[15s])) # a [10m] comment
                    / max_over_time(y[180s:3s])
                for: "5s"  # wait
                annotations:
                  description: "for: 1m in [2m]"
              - alert: B
                expr: "rate(x{a=\\"[1m]\\"}[5s]) > 0"
                for: 0s
              - alert: C
                expr: 'rate(x{a=''[1m]''}[ 6s : ]) > 0 and y offset 5m'
                keep_firing_for: 30s
        """
        let path = directory.file("rules.yml")
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runCommand(drill, ["alert-rules", "--rules", path, "--divide", "20", "--minimum", "2"], timeoutSeconds: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, expected)
        let bad = try runCommand(drill, ["alert-rules", "--rules", path, "--divide", "0"], timeoutSeconds: 30)
        XCTAssertEqual(bad.status, 2)
    }

    func testInstanceDownFiresWhileCashierdIsKilledAndClearsOnceItIsBack() throws {
        _ = try requirePrometheus()
        let script = repository + "/scripts/prometheus-local.sh"
        let directory = try TemporaryDirectory(prefix: "prom-e2e")
        let (rules, _) = try scaledRules(into: directory)
        var ports = FreePorts()
        let cashierdAddress = "127.0.0.1:\(ports.next())"
        let prometheusAddress = "127.0.0.1:\(ports.next())"

        let cashierd = try Cashierd(groups: 1, listen: [], plain: [cashierdAddress])
        defer { cashierd.stop(signal: SIGKILL) }
        XCTAssertEqual(cashierd.urls, ["http://" + cashierdAddress])

        let prometheusDirectory = directory.file("prometheus")
        let started = try runCommand("/bin/bash", [script, "start", prometheusDirectory, "--listen", prometheusAddress, "--rules", rules,
                                                   "--cashierd", cashierdAddress, "--interval", "1s"], timeoutSeconds: 60)
        defer { _ = try? runCommand("/bin/bash", [script, "stop", prometheusDirectory], timeoutSeconds: 40) }
        XCTAssertEqual(started.status, 0, "prometheus-local.sh start: \(started.stderr)")
        let prometheus = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(prometheus, "http://" + prometheusAddress)
        guard started.status == 0 else { return }
        let pid = try XCTUnwrap(Int32((try? String(contentsOfFile: prometheusDirectory + "/pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""), "no pid file")
        XCTAssertEqual(kill(pid, 0), 0, "the pid file names no running process")

        let api = PrometheusAPI(baseURL: prometheus)
        let upAfter = try waitFor(seconds: 30) { api.cashierdTargetHealth() == "up" }
        XCTAssertNotNil(upAfter, "the cashierd target did not become up: \(api.cashierdTargetHealth() ?? "no answer")")

        // The drill's watcher, as its own process, for the rest of the test.
        let watch = try ChildProcess(drill, ["watch-alerts", "--prometheus", prometheus, "--seconds", "100",
                                             "--until-cleared", "CashierdInstanceDown"])
        defer { watch.stop(signal: SIGKILL) }
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(api.firingAlerts(), [], "alerts fire while everything is up")

        cashierd.stop(signal: SIGKILL)
        let firedAfter = try waitFor(seconds: 30) { api.firingAlerts()?.contains("CashierdInstanceDown") == true }
        XCTAssertNotNil(firedAfter, "CashierdInstanceDown did not fire within 30 s of the kill")
        print("CashierdInstanceDown fired \(String(format: "%.1f", firedAfter ?? -1)) s after the SIGKILL")
        XCTAssertEqual(api.cashierdTargetHealth(), "down")

        try cashierd.start(onTheSameAddresses: true)
        let clearedAfter = try waitFor(seconds: 30) { api.firingAlerts().map { !$0.contains("CashierdInstanceDown") } == true }
        XCTAssertNotNil(clearedAfter, "CashierdInstanceDown did not clear within 30 s of the restart")
        print("CashierdInstanceDown cleared \(String(format: "%.1f", clearedAfter ?? -1)) s after the restart")

        // The watcher saw one stretch of firing, ended, and the target up again.
        let deadline = Date().addingTimeInterval(30)
        while watch.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(watch.process.isRunning, "watch-alerts did not end once the alert cleared")
        watch.stop(signal: SIGKILL)
        let line = try XCTUnwrap(watch.output.last { $0.hasPrefix("{") }, "watch-alerts printed no JSON: \(watch.output)")
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let alerts = try XCTUnwrap(report["alerts"] as? [String: [[Any]]])
        XCTAssertEqual(Set(alerts.keys), ["CashierdInstanceDown"], line)
        let stretches = try XCTUnwrap(alerts["CashierdInstanceDown"])
        XCTAssertEqual(stretches.count, 1, line)
        let start = try XCTUnwrap(stretches.first?.first as? Double), end = try XCTUnwrap(stretches.first?.last as? Double, "still open: \(line)")
        XCTAssertLessThan(start, end)
        XCTAssertEqual(report["failedPolls"] as? Int, 0, line)
        let targets = try XCTUnwrap(report["targets"] as? [String: [String: Int]])
        XCTAssertEqual(targets["cashierd"], ["up": 1, "total": 1], line)

        let stopped = try runCommand("/bin/bash", [script, "stop", prometheusDirectory], timeoutSeconds: 40)
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: prometheusDirectory + "/pid"))
        let gone = try waitFor(seconds: 5) { kill(pid, 0) != 0 }
        XCTAssertNotNil(gone, "prometheus still runs after stop")
    }

    /// Seconds until `condition` held (checked every 0.25 s), nil when it did not within `seconds`.
    private func waitFor(seconds: Double, _ condition: () throws -> Bool) throws -> Double? {
        let begin = Date()
        while Date().timeIntervalSince(begin) < seconds {
            if try condition() { return Date().timeIntervalSince(begin) }
            Thread.sleep(forTimeInterval: 0.25)
        }
        return nil
    }
}

/// Free TCP ports from 20000–32767 (below the kernel's ephemeral range), none handed out twice.
private struct FreePorts {
    private var handedOut: Set<Int> = []

    mutating func next() -> Int {
        let listing = (try? runCommand("/bin/ss", ["-Htan"], timeoutSeconds: 10))?.stdout ?? ""
        let taken = Set(listing.split(separator: "\n").compactMap { line -> Int? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4, let colon = fields[3].lastIndex(of: ":") else { return nil }
            return Int(fields[3][fields[3].index(after: colon)...])
        })
        for _ in 0..<500 {
            let p = Int.random(in: 20_000...32_767)
            if !taken.contains(p) && !handedOut.contains(p) { handedOut.insert(p); return p }
        }
        return 20_000
    }
}

/// Prometheus's HTTP API, read with curl (an independent client).
private struct PrometheusAPI {
    let baseURL: String

    private func get(_ path: String) -> [String: Any]? {
        guard let r = try? runCommand("/usr/bin/curl", ["-fsS", "-m", "2", baseURL + path], timeoutSeconds: 10), r.status == 0,
              let top = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              top["status"] as? String == "success" else { return nil }
        return top["data"] as? [String: Any]
    }

    /// The health of the one cashierd target ("up", "down", "unknown"), nil when there is none.
    func cashierdTargetHealth() -> String? {
        let active = get("/api/v1/targets?state=active")?["activeTargets"] as? [[String: Any]] ?? []
        return active.first { ($0["labels"] as? [String: Any])?["job"] as? String == "cashierd" }?["health"] as? String
    }

    /// The names of the alerts in state firing; nil when Prometheus does not answer.
    func firingAlerts() -> [String]? {
        guard let alerts = get("/api/v1/alerts")?["alerts"] as? [[String: Any]] else { return nil }
        return alerts.filter { $0["state"] as? String == "firing" }.compactMap { ($0["labels"] as? [String: Any])?["alertname"] as? String }.sorted()
    }
}

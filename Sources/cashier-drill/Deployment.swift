import Foundation

/// A running local deployment as recorded in DIR/deploy.env, and the faults the drill can inflict on it
/// (each one a call of scripts/deploy-local.sh, which owns the processes).
struct Deployment: Sendable {
    let directory: String
    let script: String
    let values: [String: String]

    /// Reads DIR/deploy.env (lines `KEY='value'` or `KEY=value`).
    init(directory: String, script: String) throws {
        self.directory = directory
        self.script = script
        let text = try String(contentsOfFile: (directory as NSString).appendingPathComponent("deploy.env"), encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: eq)...])
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            values[String(line[..<eq])] = value
        }
        self.values = values
    }

    func value(_ key: String) throws -> String {
        guard let v = values[key] else { throw DrillError("deploy.env has no \(key)") }
        return v
    }

    var products: String { values["PRODUCTS"] ?? "" }
    var shared: String { values["SHARED"] ?? "" }
    var caFile: String { values["CA_FILE"] ?? "" }
    var groupCount: Int { Int(values["GROUP_COUNT"] ?? "") ?? 0 }
    var instanceCount: Int { Int(values["INSTANCE_COUNT"] ?? "") ?? 0 }
    var doors: [String] { [values["DOOR_1_URL"], values["DOOR_2_URL"]].compactMap { $0 } }
    /// Plain addresses of the instances, for /metrics.
    var instanceURLs: [String] { (1...max(1, instanceCount)).compactMap { values["INSTANCE_\($0)_URL"] } }
    /// The deployment's Prometheus, if it runs one.
    var prometheusURL: String? { values["PROMETHEUS_URL"] }
    var supervisorPIN: String { values["SUPERVISOR_PIN"] ?? "" }

    /// Runs `deploy-local.sh COMMAND DIR ARGS…` and returns what it printed; throws with its output when it fails.
    @discardableResult
    func control(_ command: String, _ arguments: String..., timeoutSeconds: Double = 90) throws -> String {
        let result = try run(script, [command, directory] + arguments, timeoutSeconds: timeoutSeconds)
        guard result.status == 0 else { throw DrillError("deploy-local.sh \(command) \(arguments.joined(separator: " ")) failed: \(result.output)\(result.errors)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A fresh one-time activation code for the deployment's store.
    func activationCode() throws -> String {
        let result = try run(products + "/cashierd", ["activation-code", "--data", shared, "--store", try value("STORE_ID")], timeoutSeconds: 30)
        guard result.status == 0 else { throw DrillError("activation-code failed: \(result.errors)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

struct DrillError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs a program to its end and returns its exit status, standard output and standard error.
///
/// Uses the C library's `system` rather than Foundation's `Process`: the deployment script leaves daemons
/// behind (postmaster, haproxy, cashierd), and Foundation's process monitor was seen never to notice such a
/// script's exit. `timeoutSeconds` is enforced by `timeout(1)`.
func run(_ executable: String, _ arguments: [String], timeoutSeconds: Double) throws -> (status: Int32, output: String, errors: String) {
    let scratch = NSTemporaryDirectory() + "cashier-drill-\(getpid())-\(UUID().uuidString.prefix(8))"
    let out = scratch + ".out", err = scratch + ".err"
    defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: err) }
    let command = (["timeout", "-k", "5", String(Int(timeoutSeconds)), executable] + arguments).map(shellQuoted).joined(separator: " ")
        + " </dev/null >" + shellQuoted(out) + " 2>" + shellQuoted(err)
    let raw = system(command)
    let status: Int32 = raw == -1 ? -1 : (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    let output = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    let errors = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
    return (status, output, errors)
}

/// One word for /bin/sh.
func shellQuoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

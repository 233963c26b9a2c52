import Foundation

/// `cashier-drill`: sets up the local deployment's configuration and runs the failure drill against it.
let usage = """
usage: cashier-drill <command> [options]

  run --deployment DIR [--start] [--quick] [--phase-seconds S] [--tills N] [--json FILE] [--svg FILE] [--script PATH]
        sales through both front doors while primaries are killed, an instance is cut off from a group,
        an instance is killed, a site is lost and groups are added and retired;
        prints the report (--svg: also draws paid sales per second per group); exit 0 only when the drill passed. --start: first start a fresh deployment
        in DIR with scripts/deploy-local.sh, and stop it at the end
  configure --data DIR --base URL --group TAG=URL...
        point a cashierd data directory's base and groups at PostgreSQL and seed the demo store
  instance-config --from SHARED_DIR --to DIR --instance N
        an instance's own data directory over the shared databases
  alert-rules --rules FILE --divide N [--minimum S]
        print the alert rules FILE with every duration (for:, range selectors) divided by N, rounded up, at least S seconds (1)

exit codes: 0 ok, 1 drill failed or error, 2 bad usage
"""

/// `--name value` options and `--flag` switches.
struct Options {
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    init(_ arguments: [String], switches: Set<String>) throws {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            guard a.hasPrefix("--") else { throw UsageError("unexpected \(a)") }
            let name = String(a.dropFirst(2))
            if switches.contains(name) { flags.insert(name) } else {
                guard i + 1 < arguments.count else { throw UsageError("--\(name) needs a value") }
                values[name, default: []].append(arguments[i + 1])
                i += 1
            }
            i += 1
        }
    }

    func value(_ name: String) -> String? { values[name]?.last }
    func required(_ name: String) throws -> String {
        guard let v = value(name) else { throw UsageError("--\(name) is required") }
        return v
    }
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func say(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

/// deploy-local.sh next to this program's package, unless given.
func defaultScript() -> String {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<6 {
        let candidate = url.appendingPathComponent("scripts/deploy-local.sh").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        url = url.deletingLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath + "/scripts/deploy-local.sh"
}

func main(_ argv: [String]) throws -> Int32 {
    guard let command = argv.first, command != "--help", command != "help" else { print(usage); return 0 }
    let options = try Options(Array(argv.dropFirst()), switches: ["quick", "start"])
    switch command {
    case "configure":
        let groups = try (options.values["group"] ?? []).map { spec -> (tag: Int, url: String) in
            guard let eq = spec.firstIndex(of: "="), let tag = Int(spec[..<eq]) else { throw UsageError("--group is TAG=URL, not \(spec)") }
            return (tag, String(spec[spec.index(after: eq)...]))
        }
        guard !groups.isEmpty else { throw UsageError("at least one --group TAG=URL") }
        print(try DeploymentSetup.configure(dataDirectory: try options.required("data"), baseURL: try options.required("base"), groups: groups))
        return 0
    case "instance-config":
        guard let n = Int(try options.required("instance")), (0...999).contains(n) else { throw UsageError("--instance is 0–999") }
        try DeploymentSetup.instanceConfiguration(from: try options.required("from"), to: try options.required("to"), instance: n)
        return 0
    case "run":
        var drill = DrillOptions(deploymentDirectory: try options.required("deployment"), script: options.value("script") ?? defaultScript())
        drill.quick = options.flags.contains("quick")
        drill.startDeployment = options.flags.contains("start")
        if let s = options.value("phase-seconds") {
            guard let v = Double(s), v > 0, v <= 600 else { throw UsageError("--phase-seconds is 0–600") }
            drill.phaseSeconds = v
        }
        if let t = options.value("tills") {
            guard let v = Int(t), (1...16).contains(v) else { throw UsageError("--tills is 1–16") }
            drill.workers = v
        }
        drill.jsonPath = options.value("json")
        drill.svgPath = options.value("svg")
        let report = try runDrill(drill) { say($0) }
        print(report.text)
        if let path = drill.jsonPath {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: path))
        }
        return report.passed ? 0 : 1
    case "alert-rules", "watch-alerts":
        return try prometheusCommand(command, options)
    default:
        throw UsageError("unknown command \(command)")
    }
}

// libpq prints a NOTICE for every "CREATE ... IF NOT EXISTS" that finds its table; the report stays readable without.
if ProcessInfo.processInfo.environment["PGOPTIONS"] == nil { setenv("PGOPTIONS", "-c client_min_messages=warning", 1) }

do {
    exit(try main(Array(CommandLine.arguments.dropFirst())))
} catch let error as UsageError {
    say("cashier-drill: \(error)\n\n\(usage)")
    exit(2)
} catch {
    say("cashier-drill: \(error)")
    exit(1)
}

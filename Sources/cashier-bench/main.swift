import CashierClient
import CashierCore
import CashierService
import Foundation

/// `cashier-bench`: the Swift side of scripts/bench.sh. Every figure is printed as a ROW line (see Report.swift).
let usage = """
usage: cashier-bench run --work DIR --cashierd PATH --cashier PATH [--seconds S] [--big N] [--only STEP,...]
                         [--half-load-rate SALES_PER_SECOND] [--pg-port PORT --pg-dir DIR]
           steps: storage, e2e, fsync, hopping, growth, idle, postgres, wan, list, client
           --pg-port/--pg-dir: a running throwaway cluster (scripts/pg-cluster.sh) for the PostgreSQL rows
       cashier-bench activate --data DIR --url URL     prints DEVICE_ID and DEVICE_SECRET (for wrk's signing script)
"""

struct Options {
    var values: [String: String] = [:]
    init(_ args: ArraySlice<String>) throws {
        var i = args.startIndex
        while i < args.endIndex {
            guard args[i].hasPrefix("--"), i + 1 < args.endIndex else { throw BenchError("bad argument \(args[i])\n\(usage)") }
            values[String(args[i].dropFirst(2))] = args[i + 1]
            i += 2
        }
    }
    func required(_ name: String) throws -> String {
        guard let v = values[name] else { throw BenchError("--\(name) is required\n\(usage)") }
        return v
    }
}

func main() throws {
    // The proxies write to sockets whose peer may have gone: a failed write is handled, not a signal.
    signal(SIGPIPE, SIG_IGN)
    let argv = CommandLine.arguments
    guard argv.count >= 2 else { print(usage); exit(2) }
    let options = try Options(argv.dropFirst(2))
    switch argv[1] {
    case "activate":
        let url = try options.required("url")
        let data = try options.required("data")
        let http = HTTPClientConfigurationFactory.make(caFile: data + "/ca.pem")
        let code = try runProgram(try options.required("cashierd"), ["activation-code", "--data", data, "--store", try options.required("store")])
        guard code.status == 0 else { throw BenchError("activation-code failed: \(code.stderr)") }
        let t = try SignedTransport(baseURL: url, http: http)
        switch t.activate(code: code.stdout.trimmingCharacters(in: .whitespacesAndNewlines), deviceName: "wrk") {
        case .success(let r): print("\(r.deviceId) \(r.deviceSecret)")
        case .failure(let f): throw BenchError("activation failed: \(f)")
        }
    case "run":
        let plan = BenchPlan(work: try options.required("work"), cashierd: try options.required("cashierd"),
                             cashier: try options.required("cashier"), seconds: Double(options.values["seconds"] ?? "5") ?? 5,
                             bigCount: Int(options.values["big"] ?? "1000000") ?? 1_000_000,
                             steps: Set((options.values["only"] ?? BenchPlan.allSteps.joined(separator: ",")).split(separator: ",").map(String.init)),
                             halfLoadRate: try options.values["half-load-rate"].map { text in
                                 guard let rate = Double(text), rate > 0 else { throw BenchError("--half-load-rate takes a positive number of sales/s") }
                                 return rate
                             },
                             postgres: try options.values["pg-port"].map { text in
                                 guard let port = Int(text), let dir = options.values["pg-dir"] else {
                                     throw BenchError("--pg-port takes a port and needs --pg-dir")
                                 }
                                 return PostgresCluster(port: port, directory: dir)
                             })
        try plan.run()
    default:
        print(usage); exit(2)
    }
}

do { try main() } catch {
    FileHandle.standardError.write(Data("cashier-bench: \(error)\n".utf8))
    exit(1)
}

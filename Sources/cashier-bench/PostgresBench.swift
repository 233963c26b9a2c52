import CashierService
import Foundation

/// A throwaway PostgreSQL cluster started by scripts/bench.sh (scripts/pg-cluster.sh): on 127.0.0.1,
/// user `postgres`, trusted, default durability (fsync=on, synchronous_commit=on).
struct PostgresCluster {
    let port: Int
    /// The cluster's directory (pg-cluster.sh's DIR): its server processes are found from data/postmaster.pid.
    let directory: String

    func conninfo(database: String) -> String {
        "host=127.0.0.1 port=\(port) user=postgres dbname=\(database) connect_timeout=5"
    }

    /// Runs SQL with psql (stops at the first error).
    func psql(_ sql: String, database: String = "postgres") throws {
        let r = try runProgram("/usr/bin/psql", ["-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres",
                                                  "-d", database, "-c", sql])
        guard r.status == 0 else { throw BenchError("psql failed: \(r.stderr)") }
    }

    /// Single-row insert transactions per second with pgbench: the PostgreSQL counterpart of the SQLite
    /// single-insert limit (with one client, one insert per WAL flush; with more, commits share flushes).
    func insertRate(clients: Int, seconds: Int, scratch: String) throws -> Double {
        let script = scratch + "/pg-insert.sql"
        try """
            \\set n random(1, 1000000000)
            INSERT INTO bench_nonces (device_id, nonce, expires_at) VALUES ('bench-device', 'n' || :n || '-' || :client_id, 0);

            """.write(toFile: script, atomically: true, encoding: .utf8)
        let r = try runProgram("/usr/bin/timeout", [String(seconds + 60), "/usr/bin/pgbench", "-n", "-h", "127.0.0.1", "-p", String(port),
                                                    "-U", "postgres", "-c", String(clients), "-j", String(clients), "-T", String(seconds),
                                                    "-f", script, "postgres"])
        guard let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let tps = Double(line.dropFirst("tps = ".count).prefix { $0.isNumber || $0 == "." }) else {
            throw BenchError("pgbench gave no tps: \(r.stdout) \(r.stderr)")
        }
        return tps
    }

    /// The postmaster and every process it has started (backends, WAL writer, checkpointer…).
    func serverPIDs() -> [Int32] {
        guard let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let postmaster = Int32(first) else { return [] }
        var pids = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { pids.append(pid) }
        }
        return pids
    }

    /// User plus system CPU seconds of the cluster's processes so far, by process (a process started later counts from 0).
    func cpuByProcess() -> [Int32: Double] {
        Dictionary(uniqueKeysWithValues: serverPIDs().map { ($0, processCPUSeconds($0)) })
    }

    /// What a PostgreSQL process is, from its title: "backend" for one serving a connection, else its role.
    static func processKind(_ pid: Int32) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "ended process" }
        let title = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
        guard title.hasPrefix("postgres: ") else { return "postmaster" }
        let role = title.dropFirst("postgres: ".count)
        for known in ["walwriter", "checkpointer", "background writer", "autovacuum", "logical replication", "stats", "archiver"]
            where role.hasPrefix(known) { return String(known) }
        return "backend"
    }
}

/// CPU seconds used between two `cpuByProcess()` readings, by all the processes of the later one.
func cpuUsed(from before: [Int32: Double], to after: [Int32: Double]) -> Double {
    after.reduce(0) { $0 + $1.value - (before[$1.key] ?? 0) }
}

/// What kind of PostgreSQL file a path is.
func postgresFileKind(_ path: String) -> String {
    if path.contains("/pg_wal/") { return "WAL" }
    if path.contains("/base/") || path.contains("/global/") { return "table files" }
    return (path as NSString).lastPathComponent
}

extension BenchPlan {
    /// The PostgreSQL rows: pgbench's single-insert limit, then the same one-call sale figures and flush
    /// count as for SQLite with the service's four order groups in PostgreSQL databases of one cluster
    /// (the base data and the sandbox ledger stay SQLite files; a one-call sale writes neither durably).
    func postgresGroups() throws {
        guard let cluster = postgres else {
            note("no PostgreSQL cluster (--pg-port, --pg-dir): skipping the PostgreSQL rows")
            return
        }
        try cluster.psql("DROP TABLE IF EXISTS bench_nonces; CREATE TABLE bench_nonces (id bigserial PRIMARY KEY, device_id text NOT NULL, nonce text NOT NULL, expires_at bigint NOT NULL)")
        let runSeconds = max(1, Int(seconds))
        let limit = try cluster.insertRate(clients: 1, seconds: runSeconds, scratch: work)
        row("storage limit: PostgreSQL single-row insert tx/s (1 client)", "\(Int(limit))/s",
            "pgbench -c 1 -T \(runSeconds), one INSERT per transaction, so one WAL flush each; default durability (fsync=on, synchronous_commit=on); the limit the PostgreSQL rows are compared with")
        let shared = try cluster.insertRate(clients: 8, seconds: runSeconds, scratch: work)
        row("PostgreSQL single-row insert tx/s (8 clients)", "\(Int(shared))/s",
            "the same with pgbench -c 8 -j 8: concurrent commits share WAL flushes")
        for tag in 0..<4 {
            try cluster.psql("DROP DATABASE IF EXISTS bench_g\(tag)")
            try cluster.psql("CREATE DATABASE bench_g\(tag)")
        }
        let svc = try ServiceProcess(binary: cashierd, data: work + "/svc-pg", groups: 4)
        try svc.configure { c in
            for i in c.groups.indices { c.groups[i].location = .postgres(url: cluster.conninfo(database: "bench_g\(c.groups[i].tag)")) }
        }
        try svc.start()
        defer { svc.stop() }
        let creds = try svc.activateWithKey()
        let backend = Backend(label: " (PostgreSQL groups)", name: "PostgreSQL", limit: limit, cluster: cluster)
        try endToEnd(svc, creds, backend: backend, full: true)
        try flushes(svc, creds, backend: backend)
    }
}

import CashierCore
import Foundation
import HTTPClient

/// Limits on cash sales taken while the service cannot be reached; every field may be left out.
public struct OfflineLimits: Codable, Equatable, Sendable {
    /// Sales kept to be forwarded at most (0: no offline sales). The terminal holds this many order numbers
    /// more, since each offline sale uses one it was given.
    public var maxSales: Int = 10
    /// Largest offline sale, minor units.
    public var maxSaleAmount: Int64 = 50_000
    /// Largest total of the offline sales waiting, minor units.
    public var maxTotalAmount: Int64 = 200_000
    /// No new offline sale once the oldest waiting one is this old (the service takes a number for 24 hours).
    public var maxHours: Int = 12
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = OfflineLimits()
        maxSales = try c.decodeIfPresent(Int.self, forKey: .maxSales) ?? d.maxSales
        maxSaleAmount = try c.decodeIfPresent(Int64.self, forKey: .maxSaleAmount) ?? d.maxSaleAmount
        maxTotalAmount = try c.decodeIfPresent(Int64.self, forKey: .maxTotalAmount) ?? d.maxTotalAmount
        maxHours = try c.decodeIfPresent(Int.self, forKey: .maxHours) ?? d.maxHours
    }
}

/// The terminal's settings, read from a JSON file (snake_case keys) in the user's config directory.
///
/// Every field may be left out and takes its default; `probe` and `sale`, when present, must be complete.
/// Relative paths are taken relative to the directory of the configuration file.
public struct ClientConfiguration: Codable, Equatable, Sendable {
    /// Base URLs of the service domains, primary first, e.g. `https://pay-a.example.com`; at least two.
    public var domains: [String]
    /// PEM file of the only CA trusted for the service.
    public var caFile: String
    /// Optional public-key pin (`sha256//<base64>`), checked in addition to the CA.
    public var pinnedPublicKey: String?
    /// A request with no whole answer after this long counts as timed out.
    public var requestTimeoutMs: Int
    /// Timeout of requests that are safe to send again elsewhere (create, query, reverse, refund, lists):
    /// shorter, so a domain that accepts connections but never answers costs seconds, not the full timeout.
    public var safeRequestTimeoutMs: Int = 2_500
    /// A safe request with no answer after this long starts a probe round while it waits; if another
    /// domain wins the round, the request is sent there too and the first answer is taken (0: never).
    public var slowRequestProbeMs: Int = 600
    /// How many times a request refused for now (OVERLOADED, or NO_GROUP_AVAILABLE for a create) is sent
    /// again: first to another domain found healthy, else to the same one after a pause (0: never).
    public var busyRetries: Int = 3
    /// The first such pause; it doubles each time, with ±20 % jitter.
    public var busyRetryBaseMs: Int64 = 250
    /// A domain whose probe answered at most this long ago (in an earlier run, kept in the journal) is
    /// used at once at start-up, while the start-up probes are still out (0: always wait for them).
    public var rememberedProbeMs: Int64 = 60_000
    /// Sell in one call (`POST /v1/sales` with a number the terminal holds). False: always create the
    /// order, then pay (two round trips). A service without one-call sales is detected by itself.
    public var oneCallSales: Bool = true
    public var connectTimeoutMs: Int
    public var probe: ProbeConfiguration
    /// Payment deadline, poll intervals and reverse backoff.
    public var sale: SaleConfiguration
    /// Refund attempts (same reference each time) before the refund is left for a later retry.
    public var refundAttempts: Int
    public var refundRetryBaseMs: Int64
    public var journalPath: String
    public var keystorePath: String
    public var logPath: String
    /// Where receipts of paid sales are written: a file (appended) or a printer device such as
    /// `/dev/usb/lp0`; nil for none.
    public var receiptSink: String?
    /// `text` or `escpos`; by default ESC/POS for a sink under /dev/, text otherwise.
    public var receiptFormat: ReceiptFormat?
    /// A JSON file of items that checkout lines can name by code: `[{"sku", "name", "unit_price"}]`.
    public var catalogPath: String?
    /// What the terminal may take in cash while no service domain answers (docs/CLIENT.md, "Offline cash sales").
    public var offline: OfflineLimits = OfflineLimits()
    /// The front end locks after this many seconds without a key while someone is signed in (0: never);
    /// the sale on screen stays as it is behind the lock.
    public var idleLockSeconds: Int = 300
    /// A discount of more than this percent of its line needs a supervisor's PIN at the till.
    public var discountLimitPercent: Int = 10

    public init(domains: [String] = ["https://127.0.0.1:8443", "https://127.0.0.2:8444"], caFile: String = "ca.pem",
                pinnedPublicKey: String? = nil, requestTimeoutMs: Int = 10_000, connectTimeoutMs: Int = 3_000,
                probe: ProbeConfiguration = ProbeConfiguration(), sale: SaleConfiguration = SaleConfiguration(),
                refundAttempts: Int = 3, refundRetryBaseMs: Int64 = 1_000,
                journalPath: String = "journal.sqlite", keystorePath: String = "keystore.json",
                logPath: String = "cashier.log", receiptSink: String? = nil) {
        self.domains = domains; self.caFile = caFile; self.pinnedPublicKey = pinnedPublicKey
        self.requestTimeoutMs = requestTimeoutMs; self.connectTimeoutMs = connectTimeoutMs
        self.probe = probe; self.sale = sale; self.refundAttempts = refundAttempts
        self.refundRetryBaseMs = refundRetryBaseMs; self.journalPath = journalPath
        self.keystorePath = keystorePath; self.logPath = logPath; self.receiptSink = receiptSink
    }

    public init(from decoder: Decoder) throws {
        let d = ClientConfiguration()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        domains = try c.decodeIfPresent([String].self, forKey: .domains) ?? d.domains
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile) ?? d.caFile
        pinnedPublicKey = try c.decodeIfPresent(String.self, forKey: .pinnedPublicKey)
        requestTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .requestTimeoutMs) ?? d.requestTimeoutMs
        safeRequestTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .safeRequestTimeoutMs) ?? d.safeRequestTimeoutMs
        slowRequestProbeMs = try c.decodeIfPresent(Int.self, forKey: .slowRequestProbeMs) ?? d.slowRequestProbeMs
        busyRetries = try c.decodeIfPresent(Int.self, forKey: .busyRetries) ?? d.busyRetries
        busyRetryBaseMs = try c.decodeIfPresent(Int64.self, forKey: .busyRetryBaseMs) ?? d.busyRetryBaseMs
        oneCallSales = try c.decodeIfPresent(Bool.self, forKey: .oneCallSales) ?? d.oneCallSales
        rememberedProbeMs = try c.decodeIfPresent(Int64.self, forKey: .rememberedProbeMs) ?? d.rememberedProbeMs
        connectTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .connectTimeoutMs) ?? d.connectTimeoutMs
        probe = try c.decodeIfPresent(ProbeConfiguration.self, forKey: .probe) ?? d.probe
        sale = try c.decodeIfPresent(SaleConfiguration.self, forKey: .sale) ?? d.sale
        refundAttempts = try c.decodeIfPresent(Int.self, forKey: .refundAttempts) ?? d.refundAttempts
        refundRetryBaseMs = try c.decodeIfPresent(Int64.self, forKey: .refundRetryBaseMs) ?? d.refundRetryBaseMs
        journalPath = try c.decodeIfPresent(String.self, forKey: .journalPath) ?? d.journalPath
        keystorePath = try c.decodeIfPresent(String.self, forKey: .keystorePath) ?? d.keystorePath
        logPath = try c.decodeIfPresent(String.self, forKey: .logPath) ?? d.logPath
        receiptSink = try c.decodeIfPresent(String.self, forKey: .receiptSink)
        receiptFormat = try c.decodeIfPresent(ReceiptFormat.self, forKey: .receiptFormat)
        catalogPath = try c.decodeIfPresent(String.self, forKey: .catalogPath)
        offline = try c.decodeIfPresent(OfflineLimits.self, forKey: .offline) ?? d.offline
        idleLockSeconds = try c.decodeIfPresent(Int.self, forKey: .idleLockSeconds) ?? d.idleLockSeconds
        discountLimitPercent = try c.decodeIfPresent(Int.self, forKey: .discountLimitPercent) ?? d.discountLimitPercent
    }

    /// Problems that make the configuration unusable; empty when it is fine.
    public func problems() -> [String] {
        var out: [String] = []
        if domains.count < 2 { out.append("name at least two service domains (found \(domains.count))") }
        for d in domains where !(d.hasPrefix("https://") || d.hasPrefix("http://")) {
            out.append("domain \(d) is not an http(s) URL")
        }
        if requestTimeoutMs <= 0 || connectTimeoutMs <= 0 || safeRequestTimeoutMs <= 0 { out.append("timeouts must be positive") }
        if slowRequestProbeMs < 0 { out.append("slow_request_probe_ms must be 0 (off) or positive") }
        if !(0...10).contains(busyRetries) || !(1...10_000).contains(busyRetryBaseMs) {
            out.append("busy_retries must be 0 to 10 and busy_retry_base_ms 1 to 10000")
        }
        if probe.probeTimeoutMs <= 0 || probe.backoffBaseMs <= 0 || probe.backoffCeilingMs < probe.backoffBaseMs {
            out.append("probe timeout and backoff must be positive, with the ceiling not below the base")
        }
        if sale.payDeadlineMs <= 0 || sale.pollIntervalMs <= 0 { out.append("payment deadline and poll interval must be positive") }
        if refundAttempts < 1 { out.append("refund_attempts must be at least 1") }
        if offline.maxSales < 0 || offline.maxSales > 100 || offline.maxSaleAmount < 0 || offline.maxTotalAmount < 0
            || !(1...20).contains(offline.maxHours) {
            out.append("offline: max_sales must be 0 (no offline sales) to 100, amounts 0 or more, max_hours 1 to 20")
        }
        if !(0...86_400).contains(idleLockSeconds) { out.append("idle_lock_seconds must be 0 (never) to 86400") }
        if !(0...100).contains(discountLimitPercent) { out.append("discount_limit_percent must be 0 to 100") }
        return out
    }

    /// The HTTP settings every domain's connection uses.
    public var http: HTTPClientConfiguration {
        HTTPClientConfiguration(caFile: caFile, pinnedPublicKey: pinnedPublicKey, connectTimeoutMs: connectTimeoutMs,
                                totalTimeoutMs: requestTimeoutMs)
    }

    /// The same settings with relative paths made absolute against `directory`.
    public func resolvingPaths(against directory: String) -> ClientConfiguration {
        func abs(_ p: String) -> String { p.hasPrefix("/") ? p : (directory as NSString).appendingPathComponent(p) }
        var c = self
        c.caFile = abs(caFile); c.journalPath = abs(journalPath); c.keystorePath = abs(keystorePath)
        c.logPath = abs(logPath); c.receiptSink = receiptSink.map(abs); c.catalogPath = catalogPath.map(abs)
        return c
    }

    /// Where the configuration file is: `--config` (passed in), `CASHIER_CONFIG`, then the XDG config directory.
    public static func defaultPath(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = environment["CASHIER_CONFIG"], !env.isEmpty { return env }
        let base: String
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            base = xdg
        } else {
            base = ((environment["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".config")
        }
        return ((base as NSString).appendingPathComponent("cashier") as NSString).appendingPathComponent("config.json")
    }

    /// Reads and checks the file at `path`, resolving its relative paths. A missing file gives the defaults.
    public static func load(path: String) throws(APIError) -> ClientConfiguration {
        let directory = (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: path) else {
            return ClientConfiguration().resolvingPaths(against: directory)
        }
        let config: ClientConfiguration
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            config = try API.makeDecoder().decode(ClientConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw APIError(.configInvalid, detail: "\(path): \(describe(error))")
        } catch {
            throw APIError(.configInvalid, detail: "\(path): \(error.localizedDescription)")
        }
        let problems = config.problems()
        guard problems.isEmpty else { throw APIError(.configInvalid, detail: "\(path): " + problems.joined(separator: "; ")) }
        return config.resolvingPaths(against: directory)
    }

    /// Writes the configuration as pretty JSON (used by tests and to create a starting file).
    public func write(to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let e = API.makeEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try e.encode(self).write(to: URL(fileURLWithPath: path))
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            ctx.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx): return "wrong type at \(path(ctx)): \(ctx.debugDescription)"
        case let .keyNotFound(key, ctx): return "missing \(key.stringValue) in \(path(ctx).isEmpty ? "the top level" : path(ctx))"
        case let .dataCorrupted(ctx): return "not valid JSON: \(ctx.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

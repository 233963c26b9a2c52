import CShims
import Foundation

/// A running HTTP(S) server: one libmicrohttpd daemon per listen address, each with an epoll event thread
/// that holds idle keep-alive connections for the price of a socket; complete requests are handed to a
/// bounded pool of worker threads shared by all addresses, which run the handler.
///
/// `@unchecked Sendable` because its only mutable state, the C daemon and pool handles, is guarded by `lock`.
public final class HTTPServer: @unchecked Sendable {
    /// The listen addresses with the ports actually bound.
    public let boundAddresses: [ListenAddress]
    /// The connection limit each listen address got: the configured one, bounded by the open-file limit.
    public let connectionLimitPerListener: Int
    /// How many connections all listen addresses together keep open at most.
    public let connectionBudget: Int

    private let lock = NSLock()
    private var daemons: [OpaquePointer]
    private var pool: OpaquePointer?
    private var context: Unmanaged<HandlerBox>?
    private let stopTimeoutSeconds: Int

    /// Starts listening on every address; throws (after closing any already opened) if one fails.
    public init(configuration: HTTPServerConfiguration,
                handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws {
        let files = OpenFileLimit.shared.raise()
        let fileBudget = max(16, files.soft - HTTPServerConfiguration.reservedFileDescriptors)
        let budget = min(fileBudget, max(1, configuration.connectionBudget ?? fileBudget))
        let perListener = min(max(1, configuration.connectionLimit), budget)
        if perListener < configuration.connectionLimit {
            OpenFileLimit.shared.logOnce("connection limit \(configuration.connectionLimit) lowered to \(perListener): " +
                                          "the listen addresses share at most \(budget) connections (open-file limit \(files.soft))")
        }
        guard let pool = Self.makePool(workers: configuration.workerThreads, budget: budget) else {
            throw HTTPServerError("cannot start the HTTP worker pool")
        }
        let context = Unmanaged.passRetained(HandlerBox(handler))
        var daemons: [OpaquePointer] = []
        var bound: [ListenAddress] = []
        for address in configuration.listen {
            do {
                let daemon = try Self.start(address, configuration, connectionLimit: perListener, pool: pool,
                                            context.toOpaque())
                daemons.append(daemon)
                var actual = address
                actual.port = cashier_http_bound_port(daemon)
                bound.append(actual)
            } catch {
                for daemon in daemons { cashier_http_stop(daemon, 0) }
                cashier_http_pool_destroy(pool)
                context.release()
                throw error
            }
        }
        self.daemons = daemons
        self.pool = pool
        self.context = context
        self.boundAddresses = bound
        self.connectionLimitPerListener = perListener
        self.connectionBudget = budget
        self.stopTimeoutSeconds = max(0, configuration.stopTimeoutSeconds)
    }

    deinit { stop() }

    /// Worker threads started so far (they start as requests need them, up to `workerThreads`).
    public var workerThreadsStarted: Int {
        lock.lock()
        defer { lock.unlock() }
        return pool.map { Int(cashier_http_pool_workers($0)) } ?? 0
    }

    /// Connections open now on all listen addresses.
    public var openConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return pool.map { Int(cashier_http_pool_open_connections($0)) } ?? 0
    }

    /// Stops accepting connections on every address, lets in-flight requests finish and their responses go
    /// out (up to `stopTimeoutSeconds` in all), then closes everything. Handler calls under way are always
    /// waited for. Safe to call more than once; never call it from a handler.
    public func stop() {
        lock.lock()
        let daemons = self.daemons
        let context = self.context
        let pool = self.pool
        self.daemons = []
        self.context = nil
        self.pool = nil
        lock.unlock()
        for daemon in daemons { cashier_http_quiesce(daemon) }
        let deadline = Date().addingTimeInterval(Double(stopTimeoutSeconds))
        for daemon in daemons {
            let left = max(0, deadline.timeIntervalSinceNow.rounded(.up))
            cashier_http_stop(daemon, UInt32(clamping: Int(left)))
        }
        if let pool { cashier_http_pool_destroy(pool) }
        context?.release()
    }

    private static func makePool(workers: Int, budget: Int) -> OpaquePointer? {
        // C copies the texts; they only need to live through the call.
        let texts = HTTPRefusal.allCases.map { ($0.status, strdup($0.code), strdup($0.message), $0.retryable) }
        defer { for text in texts { free(text.1); free(text.2) } }
        var refusals = texts.map { text in
            cashier_http_refusal_text(status: UInt32(text.0), code: UnsafePointer(text.1), message: UnsafePointer(text.2),
                                      retryable: text.3 ? 1 : 0)
        }
        precondition(refusals.count == Int(CASHIER_HTTP_REFUSAL_COUNT.rawValue), "HTTPRefusal and the C kinds disagree")
        return cashier_http_pool_create(UInt32(clamping: max(1, workers)), UInt32(clamping: budget), &refusals)
    }

    private static func start(_ address: ListenAddress, _ configuration: HTTPServerConfiguration, connectionLimit: Int,
                              pool: OpaquePointer, _ context: UnsafeMutableRawPointer) throws -> OpaquePointer {
        let prefix = "cannot listen on \(address.displayName)"
        var tls: TLSMaterial?
        if address.tls {
            guard let material = configuration.tls else {
                throw HTTPServerError("\(prefix): TLS requested but no certificate and key configured")
            }
            tls = material
        }
        var error = [CChar](repeating: 0, count: 512)
        let daemon: OpaquePointer? = address.host.withCString { host in
            withOptionalCString(tls?.certificatePEM) { certificate in
                withOptionalCString(tls?.privateKeyPEM) { key in
                    var config = cashier_http_config(
                        address: host,
                        port: address.port,
                        tls_certificate_pem: certificate,
                        tls_private_key_pem: key,
                        max_body_bytes: max(0, configuration.maxBodyBytes),
                        connection_timeout_seconds: UInt32(clamping: max(0, configuration.connectionTimeoutSeconds)),
                        connection_limit: UInt32(clamping: connectionLimit),
                        per_ip_connection_limit: UInt32(clamping: max(0, configuration.perIPConnectionLimit)),
                        event_threads: UInt32(clamping: max(1, configuration.eventThreadsPerListener)))
                    return cashier_http_start(&config, pool, handleRequest, context, &error, error.count)
                }
            }
        }
        guard let daemon else {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw HTTPServerError("\(prefix): \(reason)")
        }
        return daemon
    }
}

/// The process's open-file limit, raised to the hard limit whenever a server starts (cheap; something
/// else in the process may have lowered it), and logged the first time and whenever it changes.
///
/// `@unchecked Sendable` because its only mutable state, `logged`, is guarded by `lock`.
final class OpenFileLimit: @unchecked Sendable {
    struct Limits {
        var before: Int
        var soft: Int
        var hard: Int
    }

    static let shared = OpenFileLimit()
    private let lock = NSLock()
    private var logged = false
    private var said: Set<String> = []

    func raise() -> Limits {
        var before: UInt64 = 0, after: UInt64 = 0, hard: UInt64 = 0
        let failed = cashier_http_raise_open_file_limit(&before, &after, &hard) != 0
        let limits = Limits(before: Int(clamping: before), soft: Int(clamping: after), hard: Int(clamping: hard))
        lock.lock()
        let first = !logged
        logged = true
        lock.unlock()
        if first || limits.before != limits.soft || failed {
            let change = limits.before == limits.soft ? "" : " (raised from \(limits.before))"
            log("open-file limit \(limits.soft)\(change), hard limit \(limits.hard)\(failed ? "; raising it failed" : "")")
        }
        return limits
    }

    func log(_ line: String) {
        FileHandle.standardError.write(Data("http: \(line)\n".utf8))
    }

    /// Logs `line` unless this process already did (every server of a test run would say the same).
    func logOnce(_ line: String) {
        lock.lock()
        let fresh = said.insert(line).inserted
        lock.unlock()
        if fresh { log(line) }
    }
}

/// Holds the handler closure so C can reach it through an opaque pointer.
private final class HandlerBox: Sendable {
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    init(_ handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) { self.handler = handler }
}

private func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let text else { return body(nil) }
    return text.withCString { body($0) }
}

/// Called by C on a worker thread with a complete request; writes the handler's response back.
private func handleRequest(context: UnsafeMutableRawPointer?, request: UnsafePointer<cashier_http_request>?,
                           response: OpaquePointer?) {
    guard let context, let request, let response else { return }
    let box = Unmanaged<HandlerBox>.fromOpaque(context).takeUnretainedValue()
    let answer = box.handler(HTTPRequest(request.pointee))
    answer.body.withUnsafeBufferPointer { body in
        cashier_http_response_set(response, UInt32(clamping: answer.status), body.baseAddress, body.count)
    }
    for (name, value) in answer.headers {
        _ = cashier_http_response_add_header(response, name, value)
    }
}

extension HTTPRequest {
    /// Copies everything out of the C request, whose memory lives only for the handler call.
    init(_ raw: cashier_http_request) {
        func pairs(_ base: UnsafePointer<cashier_http_pair>?, _ count: Int) -> [(String, String)] {
            guard let base else { return [] }
            return UnsafeBufferPointer(start: base, count: count).map { pair in
                (pair.name.map { String(cString: $0) } ?? "", pair.value.map { String(cString: $0) } ?? "")
            }
        }
        var headers: [String: String] = [:]
        for (name, value) in pairs(raw.headers, raw.header_count) {
            let key = name.lowercased()
            headers[key] = headers[key].map { "\($0), \(value)" } ?? value
        }
        let body = raw.body.map { Array(UnsafeBufferPointer(start: $0, count: raw.body_length)) } ?? []
        self.init(method: raw.method.map { String(cString: $0) } ?? "",
                  path: raw.path.map { String(cString: $0) } ?? "/",
                  rawPath: raw.raw_path.map { String(cString: $0) } ?? "/",
                  query: pairs(raw.query, raw.query_count),
                  headers: headers,
                  body: body,
                  bodyTooLarge: raw.body_too_large != 0,
                  remoteAddress: raw.remote_address.map { String(cString: $0) } ?? "")
    }
}

import CCurl
import CShims

/// One libcurl easy handle, reused so the connection to the service stays open between requests.
///
/// Not thread-safe: one thread at a time may call `perform`, and `perform` blocks that thread, so
/// run it on a thread of your own, not on the Swift concurrency pool. Trust is limited to the
/// configured CA file (the system store is switched off) and, if given, a public-key pin — unless the
/// configuration asks for the system store (`usesSystemTrustStore`), for public providers' endpoints.
public final class CurlConnection {
    public let configuration: HTTPClientConfiguration
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    /// Kept for the handle's lifetime: curl does not copy this list.
    private var resolveList: UnsafeMutablePointer<curl_slist>?
    /// Whether the handle may hold a kept-alive connection that the next request would ride.
    ///
    /// libcurl silently sends a request again on a fresh connection when a reused one dies before any
    /// answer byte, and that connection may have carried the request to the peer, which may have acted on
    /// it. If the fresh connection then cannot be made, curl reports "could not connect", which alone would
    /// read as "surely not sent". So while a connection may have been reused, a failure to connect is
    /// reported as "may have arrived" instead (`TransportError.other`, `timedOut(afterConnect: true)`).
    private var mayHoldConnection = false

    /// Fails with `.other` when libcurl cannot start or refuses the configuration.
    public init(configuration: HTTPClientConfiguration) throws(TransportError) {
        let global = cashier_curl_global_init_once()
        guard global == CURLE_OK else { throw Self.setupError(global, "curl_global_init") }
        guard let h = curl_easy_init() else { throw .other(code: -1, "curl_easy_init failed") }
        self.configuration = configuration
        self.handle = h
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        for entry in configuration.resolve { resolveList = curl_slist_append(resolveList, entry) }
        try applyFixedOptions()
        try applyOptionalOptions()
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(resolveList)
        errorBuffer.deallocate()
    }

    /// Sends one request and waits for the whole answer (bounded by the total timeout).
    /// - Parameter timeoutMs: this request's total timeout; the configured one when nil.
    /// - Parameter freshConnection: open a new connection for this request instead of reusing a kept-alive
    ///   one. libcurl sends a request again, silently, on a new connection when a reused one turns out to
    ///   have died before any answer came; a request that must never reach the peer twice (a payment) asks
    ///   for a fresh connection, which libcurl never retries.
    public func perform(method: String, url: String, headers: [String: String] = [:],
                        body: [UInt8]? = nil, timeoutMs: Int? = nil,
                        freshConnection: Bool = false) -> Result<HTTPClientResponse, TransportError> {
        errorBuffer[0] = 0
        _ = cashier_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs ?? configuration.totalTimeoutMs)
        let fresh = freshConnection || configuration.freshConnectionEachRequest
        _ = cashier_curl_setopt_long(handle, CURLOPT_FRESH_CONNECT, fresh ? 1 : 0)
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        // Never wait for "100 Continue": send the body straight away.
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) + [("Expect", "")] {
            headerList = curl_slist_append(headerList, value.isEmpty ? "\(name):" : "\(name): \(value)")
        }
        let sink = ResponseSink()
        let context = Unmanaged.passRetained(sink)
        defer { context.release() }

        var setup = CURLE_OK
        func set(_ r: CURLcode) { if setup == CURLE_OK { setup = r } }
        set(cashier_curl_setopt_pointer(handle, CURLOPT_URL, url))
        set(cashier_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeRawPointer(headerList)))
        set(cashier_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque()))
        set(cashier_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context.toOpaque()))
        set(cashier_curl_setopt_pointer(handle, CURLOPT_CUSTOMREQUEST, nil))
        set(cashier_curl_setopt_long(handle, CURLOPT_NOBODY, 0))
        let upper = method.uppercased()
        // An empty body on GET/HEAD means "no body"; any other body goes out with POST mechanics.
        let sendsBody = body.map { !$0.isEmpty || (upper != "GET" && upper != "HEAD") } ?? false
        if let body, sendsBody {
            set(cashier_curl_setopt_long(handle, CURLOPT_POST, 1))
            set(cashier_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count))
            // COPYPOSTFIELDS copies now, so the array need not outlive this call.
            set(body.withUnsafeBufferPointer { buf in
                cashier_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS,
                                            buf.baseAddress.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(errorBuffer))
            })
        } else if upper == "HEAD" {
            set(cashier_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
        } else {
            set(cashier_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        }
        let natural = sendsBody ? "POST" : (upper == "HEAD" ? "HEAD" : "GET")
        if upper != natural { set(cashier_curl_setopt_pointer(handle, CURLOPT_CUSTOMREQUEST, upper)) }
        guard setup == CURLE_OK else { return .failure(Self.setupError(setup, "setting request options")) }

        let mayReuse = mayHoldConnection && !fresh
        let code = curl_easy_perform(handle)
        // The header list is freed on return; make sure the handle no longer points at it.
        _ = cashier_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, nil)

        var pretransfer = 0.0
        _ = cashier_curl_getinfo_double(handle, CURLINFO_PRETRANSFER_TIME, &pretransfer)
        guard code == CURLE_OK else {
            mayHoldConnection = false
            let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
            let failure = TransportError.classify(code, message: detail, connected: pretransfer > 0)
            return .failure(mayReuse ? failure.afterPossibleReuse(code: Int(code.rawValue)) : failure)
        }
        mayHoldConnection = sink.headers["connection"]?.lowercased().contains("close") != true
        var status = 0, connects = 0
        var total = 0.0
        _ = cashier_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        _ = cashier_curl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
        _ = cashier_curl_getinfo_double(handle, CURLINFO_TOTAL_TIME, &total)
        return .success(HTTPClientResponse(status: status, headers: sink.headers, body: sink.body,
                                           totalTime: total, newConnections: connects))
    }

    // MARK: - Internals

    private func applyFixedOptions() throws(TransportError) {
        let c = configuration
        // With the system store, CAINFO and CAPATH keep libcurl's built-in defaults (the system's CA bundle).
        let trust: [(String, () -> CURLcode)] = c.usesSystemTrustStore ? [] : [
            ("CAINFO", { cashier_curl_setopt_pointer(self.handle, CURLOPT_CAINFO, c.caFile) }),
            ("CAPATH", { cashier_curl_setopt_pointer(self.handle, CURLOPT_CAPATH, nil) }),
        ]
        let steps: [(String, () -> CURLcode)] = [
            ("NOSIGNAL", { cashier_curl_setopt_long(self.handle, CURLOPT_NOSIGNAL, 1) }),
            ("ERRORBUFFER", { cashier_curl_setopt_pointer(self.handle, CURLOPT_ERRORBUFFER, self.errorBuffer) }),
        ] + trust + [
            ("SSL_VERIFYPEER", { cashier_curl_setopt_long(self.handle, CURLOPT_SSL_VERIFYPEER, 1) }),
            ("SSL_VERIFYHOST", { cashier_curl_setopt_long(self.handle, CURLOPT_SSL_VERIFYHOST, 2) }),
            ("PINNEDPUBLICKEY", { cashier_curl_setopt_pointer(self.handle, CURLOPT_PINNEDPUBLICKEY, c.pinnedPublicKey) }),
            ("CONNECTTIMEOUT_MS", { cashier_curl_setopt_long(self.handle, CURLOPT_CONNECTTIMEOUT_MS, c.connectTimeoutMs) }),
            ("TIMEOUT_MS", { cashier_curl_setopt_long(self.handle, CURLOPT_TIMEOUT_MS, c.totalTimeoutMs) }),
            ("RESOLVE", { cashier_curl_setopt_pointer(self.handle, CURLOPT_RESOLVE, UnsafeRawPointer(self.resolveList)) }),
            ("FOLLOWLOCATION", { cashier_curl_setopt_long(self.handle, CURLOPT_FOLLOWLOCATION, 0) }),
            ("TCP_KEEPALIVE", { cashier_curl_setopt_long(self.handle, CURLOPT_TCP_KEEPALIVE, 1) }),
            ("MAXAGE_CONN", { cashier_curl_setopt_long(self.handle, CURLOPT_MAXAGE_CONN, max(1, c.maxIdleReuseSeconds)) }),
            ("WRITEFUNCTION", { cashier_curl_setopt_write_function(self.handle, CURLOPT_WRITEFUNCTION, curlWriteBody) }),
            ("HEADERFUNCTION", { cashier_curl_setopt_write_function(self.handle, CURLOPT_HEADERFUNCTION, curlWriteHeader) }),
        ]
        for (name, step) in steps {
            let r = step()
            guard r == CURLE_OK else { throw Self.setupError(r, name) }
        }
    }

    private static func setupError(_ code: CURLcode, _ what: String) -> TransportError {
        .other(code: Int(code.rawValue), "\(what): \(String(cString: curl_easy_strerror(code)))")
    }
}

extension CurlConnection {
    /// The options a configuration may ask for beyond the fixed ones: a client certificate, and a fresh
    /// connection for every request. (The system trust store is chosen in `applyFixedOptions`.)
    private func applyOptionalOptions() throws(TransportError) {
        let c = configuration
        var steps: [(String, () -> CURLcode)] = []
        if c.clientCertificateFile != nil || c.clientKeyFile != nil {
            guard let certificate = c.clientCertificateFile, let key = c.clientKeyFile else {
                throw .other(code: -1, "a client certificate needs both its certificate and its key file")
            }
            steps.append(("SSLCERT", { cashier_curl_setopt_pointer(self.handle, CURLOPT_SSLCERT, certificate) }))
            steps.append(("SSLCERTTYPE", { cashier_curl_setopt_pointer(self.handle, CURLOPT_SSLCERTTYPE, "PEM") }))
            steps.append(("SSLKEY", { cashier_curl_setopt_pointer(self.handle, CURLOPT_SSLKEY, key) }))
            steps.append(("SSLKEYTYPE", { cashier_curl_setopt_pointer(self.handle, CURLOPT_SSLKEYTYPE, "PEM") }))
        }
        if c.freshConnectionEachRequest {
            // No pooled connection is ever taken, so libcurl's silent re-send on a dead reused connection
            // (which applies only to reused ones) cannot happen; and none is left in the pool afterwards.
            steps.append(("FRESH_CONNECT", { cashier_curl_setopt_long(self.handle, CURLOPT_FRESH_CONNECT, 1) }))
            steps.append(("FORBID_REUSE", { cashier_curl_setopt_long(self.handle, CURLOPT_FORBID_REUSE, 1) }))
        }
        for (name, step) in steps {
            let r = step()
            guard r == CURLE_OK else { throw Self.optionError(r, name) }
        }
    }

    private static func optionError(_ code: CURLcode, _ what: String) -> TransportError {
        .other(code: Int(code.rawValue), "\(what): \(String(cString: curl_easy_strerror(code)))")
    }
}

/// Collects one response while curl calls back into it.
private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [String: String] = [:]

    /// One raw header line as curl hands it over (status lines and the blank end line included).
    /// Worked on as bytes: header names and the separators are ASCII, and `Character`-level trimming
    /// showed in the load generator's profile.
    func addHeaderLine(_ line: UnsafeBufferPointer<UInt8>) {
        if line.starts(with: Self.statusLinePrefix) { headers = [:]; return }  // a new (final or interim) response begins
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
        let name = Self.trimmed(line[..<colon])
        guard !name.isEmpty else { return }
        let lowerName = String(decoding: name.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
        let value = String(decoding: Self.trimmed(line[(colon + 1)...]), as: UTF8.self)
        if let old = headers[lowerName] { headers[lowerName] = old + ", " + value } else { headers[lowerName] = value }
    }

    private static let statusLinePrefix = Array("HTTP/".utf8)

    /// The bytes without leading and trailing spaces, tabs, CR and LF.
    private static func trimmed(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
        guard let start = bytes.firstIndex(where: { !isSpace($0) }), let end = bytes.lastIndex(where: { !isSpace($0) }) else {
            return bytes[bytes.startIndex..<bytes.startIndex]
        }
        return bytes[start...end]
    }
}

/// CURLOPT_WRITEFUNCTION: appends body bytes to the sink passed as context.
private func curlWriteBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                           _ context: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    guard let data, let context else { return n }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    data.withMemoryRebound(to: UInt8.self, capacity: n) { sink.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) }
    return n
}

/// CURLOPT_HEADERFUNCTION: hands each header line to the sink passed as context.
private func curlWriteHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                             _ context: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    guard let data, let context else { return n }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    data.withMemoryRebound(to: UInt8.self, capacity: n) {
        sink.addHeaderLine(UnsafeBufferPointer(start: $0, count: n))
    }
    return n
}

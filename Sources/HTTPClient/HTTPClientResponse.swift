/// An HTTP answer, whatever its status.
public struct HTTPClientResponse: Equatable, Sendable {
    public var status: Int
    /// Header names lower-cased; repeated headers joined with ", ".
    public var headers: [String: String]
    public var body: [UInt8]
    /// Wall time of the whole request, seconds.
    public var totalTime: Double
    /// Connections newly opened for this request; 0 when a kept-alive connection was reused.
    public var newConnections: Int

    public init(status: Int, headers: [String: String], body: [UInt8], totalTime: Double, newConnections: Int) {
        self.status = status; self.headers = headers; self.body = body
        self.totalTime = totalTime; self.newConnections = newConnections
    }
}

/// How a `CurlConnection` reaches and trusts the service.
public struct HTTPClientConfiguration: Equatable, Sendable {
    /// PEM file of the only CA trusted; the system store is never used (unless `usesSystemTrustStore`).
    public var caFile: String
    /// Optional public-key pin, `sha256//<base64>` (several joined with `;`).
    public var pinnedPublicKey: String?
    public var connectTimeoutMs: Int
    public var totalTimeoutMs: Int
    /// CURLOPT_RESOLVE entries, `host:port:address`, e.g. to map test names to 127.0.0.1.
    public var resolve: [String]
    /// A kept-alive connection idle longer than this is not reused (CURLOPT_MAXAGE_CONN): below the
    /// service's idle timeout (15 s), so a request never races the service closing the connection it rides
    /// (which shows as a reset, and would fail a probe or a request for nothing).
    public var maxIdleReuseSeconds: Int = 12
    /// Trust the system's CA store (libcurl's built-in CA bundle and path) instead of `caFile`, which is
    /// then ignored: for a public provider's endpoints, whose certificates chain to public CAs.
    public var usesSystemTrustStore: Bool
    /// A client certificate (PEM file) presented when the server asks for one (mutual TLS), with its
    /// unencrypted private key (PEM file, mode 0600). Both or neither.
    public var clientCertificateFile: String? = nil
    public var clientKeyFile: String? = nil
    /// Open a new connection for every request and close it afterwards (CURLOPT_FRESH_CONNECT and
    /// CURLOPT_FORBID_REUSE). A request that must never be sent twice needs this: on a reused connection
    /// that turns out dead before any answer byte arrives, libcurl silently sends the same request again on
    /// a fresh connection — although the first copy may have reached the server.
    public var freshConnectionEachRequest: Bool = false

    public init(caFile: String, pinnedPublicKey: String? = nil, connectTimeoutMs: Int = 3_000,
                totalTimeoutMs: Int = 10_000, resolve: [String] = [], usesSystemTrustStore: Bool = false) {
        self.caFile = caFile; self.pinnedPublicKey = pinnedPublicKey; self.connectTimeoutMs = connectTimeoutMs
        self.totalTimeoutMs = totalTimeoutMs; self.resolve = resolve; self.usesSystemTrustStore = usesSystemTrustStore
    }
}

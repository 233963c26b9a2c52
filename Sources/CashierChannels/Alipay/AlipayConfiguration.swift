import Foundation

/// How the service reaches Alipay as one merchant app (docs/CHANNELS.md, "Alipay"). JSON, snake_case.
///
/// Credentials are not in this value: the app's private key and Alipay's public key are files
/// (`app_private_key_file` must be mode 0600). The one inline credential, the optional
/// `app_auth_token` (for a service provider calling on a merchant's behalf), is never printed:
/// `description` shows where things are, never what the secrets are.
public struct AlipayConfiguration: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The published production gateway.
    public static let productionGateway = "https://openapi.alipay.com/gateway.do"

    /// The app's id on Alipay's open platform (`app_id`).
    public var appID: String
    /// PEM (PKCS#1 or PKCS#8) or bare base64 private key of the app, RSA 2048; mode 0600.
    public var appPrivateKeyFile: String
    /// Alipay's public key for this app ("支付宝公钥", not the app's own public key): PEM or bare base64.
    public var alipayPublicKeyFile: String
    /// The merchant's Alipay user id (2088…), sent as `seller_id` when set.
    public var sellerID: String?
    /// The merchant's store number (`store_id`) when a pay request carries none.
    public var storeID: String
    /// For a service provider (ISV) calling on a merchant's behalf; a credential.
    public var appAuthToken: String?
    public var primaryGatewayURL: String
    /// Alipay publishes no backup for the OpenAPI gateway (see docs/CHANNELS.md); set one if Alipay
    /// gives you one, or a second access path of your own.
    public var backupGatewayURL: String?
    /// A PEM CA file to trust instead of the system store (tests, private gateways).
    public var caFile: String?
    public var connectTimeoutMs: Int
    /// The whole of one call, connection included.
    public var timeoutMs: Int
    /// Downloading a statement file.
    public var statementTimeoutMs: Int
    /// How often a payment the customer is confirming is asked (3–5 s).
    public var pollIntervalMs: Int64
    /// A payment still undecided this long after the pay call is cancelled (60 s).
    public var payDeadlineMs: Int64
    /// How many times one `reverse` calls `alipay.trade.cancel` while Alipay answers `retry_flag=Y`.
    public var cancelAttemptsMax: Int
    public var cancelRetryIntervalMs: Int

    public init(appID: String, appPrivateKeyFile: String, alipayPublicKeyFile: String, sellerID: String? = nil,
                storeID: String, appAuthToken: String? = nil, primaryGatewayURL: String = AlipayConfiguration.productionGateway,
                backupGatewayURL: String? = nil, caFile: String? = nil, connectTimeoutMs: Int = 3_000, timeoutMs: Int = 15_000,
                statementTimeoutMs: Int = 60_000, pollIntervalMs: Int64 = 3_000, payDeadlineMs: Int64 = 60_000,
                cancelAttemptsMax: Int = 5, cancelRetryIntervalMs: Int = 1_000) {
        self.appID = appID; self.appPrivateKeyFile = appPrivateKeyFile; self.alipayPublicKeyFile = alipayPublicKeyFile
        self.sellerID = sellerID; self.storeID = storeID; self.appAuthToken = appAuthToken
        self.primaryGatewayURL = primaryGatewayURL; self.backupGatewayURL = backupGatewayURL; self.caFile = caFile
        self.connectTimeoutMs = connectTimeoutMs; self.timeoutMs = timeoutMs; self.statementTimeoutMs = statementTimeoutMs
        self.pollIntervalMs = pollIntervalMs; self.payDeadlineMs = payDeadlineMs
        self.cancelAttemptsMax = cancelAttemptsMax; self.cancelRetryIntervalMs = cancelRetryIntervalMs
    }

    enum CodingKeys: String, CodingKey {
        case appID = "app_id"
        case appPrivateKeyFile = "app_private_key_file"
        case alipayPublicKeyFile = "alipay_public_key_file"
        case sellerID = "seller_id"
        case storeID = "store_id"
        case appAuthToken = "app_auth_token"
        case primaryGatewayURL = "primary_gateway_url"
        case backupGatewayURL = "backup_gateway_url"
        case caFile = "ca_file"
        case connectTimeoutMs = "connect_timeout_ms"
        case timeoutMs = "timeout_ms"
        case statementTimeoutMs = "statement_timeout_ms"
        case pollIntervalMs = "poll_interval_ms"
        case payDeadlineMs = "pay_deadline_ms"
        case cancelAttemptsMax = "cancel_attempts_max"
        case cancelRetryIntervalMs = "cancel_retry_interval_ms"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AlipayConfiguration(appID: "", appPrivateKeyFile: "", alipayPublicKeyFile: "", storeID: "")
        appID = try c.decode(String.self, forKey: .appID)
        appPrivateKeyFile = try c.decode(String.self, forKey: .appPrivateKeyFile)
        alipayPublicKeyFile = try c.decode(String.self, forKey: .alipayPublicKeyFile)
        sellerID = try c.decodeIfPresent(String.self, forKey: .sellerID)
        storeID = try c.decode(String.self, forKey: .storeID)
        appAuthToken = try c.decodeIfPresent(String.self, forKey: .appAuthToken)
        primaryGatewayURL = try c.decodeIfPresent(String.self, forKey: .primaryGatewayURL) ?? d.primaryGatewayURL
        backupGatewayURL = try c.decodeIfPresent(String.self, forKey: .backupGatewayURL)
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        connectTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .connectTimeoutMs) ?? d.connectTimeoutMs
        timeoutMs = try c.decodeIfPresent(Int.self, forKey: .timeoutMs) ?? d.timeoutMs
        statementTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .statementTimeoutMs) ?? d.statementTimeoutMs
        pollIntervalMs = try c.decodeIfPresent(Int64.self, forKey: .pollIntervalMs) ?? d.pollIntervalMs
        payDeadlineMs = try c.decodeIfPresent(Int64.self, forKey: .payDeadlineMs) ?? d.payDeadlineMs
        cancelAttemptsMax = try c.decodeIfPresent(Int.self, forKey: .cancelAttemptsMax) ?? d.cancelAttemptsMax
        cancelRetryIntervalMs = try c.decodeIfPresent(Int.self, forKey: .cancelRetryIntervalMs) ?? d.cancelRetryIntervalMs
    }

    /// Where everything is, never a secret.
    public var description: String {
        var parts = ["app_id=\(appID)", "store_id=\(storeID)", "primary=\(primaryGatewayURL)",
                     "backup=\(backupGatewayURL ?? "none")", "app_private_key_file=\(appPrivateKeyFile)",
                     "alipay_public_key_file=\(alipayPublicKeyFile)", "ca=\(caFile ?? "system")"]
        if let sellerID { parts.append("seller_id=\(sellerID)") }
        if appAuthToken != nil { parts.append("app_auth_token=(set)") }
        return "AlipayConfiguration(" + parts.joined(separator: ", ") + ")"
    }

    public struct Invalid: Error, CustomStringConvertible, Sendable, Equatable {
        public var problems: [String]
        public var description: String { "invalid Alipay configuration: " + problems.joined(separator: "; ") }
    }

    /// Every problem at once, so an operator fixes the file in one go.
    public func validate() throws(Invalid) {
        var problems: [String] = []
        if appID.isEmpty || !appID.allSatisfy({ $0.isASCII && $0.isNumber }) { problems.append("app_id must be the app's numeric id") }
        if storeID.isEmpty || storeID.utf8.count > 32 { problems.append("store_id must be 1–32 characters") }
        if appPrivateKeyFile.isEmpty { problems.append("app_private_key_file is missing") }
        if alipayPublicKeyFile.isEmpty { problems.append("alipay_public_key_file is missing") }
        for (name, url) in [("primary_gateway_url", primaryGatewayURL), ("backup_gateway_url", backupGatewayURL ?? "https://x")]
        where !url.lowercased().hasPrefix("https://") {
            problems.append("\(name) must be an https URL")
        }
        if let backupGatewayURL, backupGatewayURL == primaryGatewayURL { problems.append("backup_gateway_url is the primary") }
        if !(100...60_000).contains(connectTimeoutMs) { problems.append("connect_timeout_ms must be 100–60000") }
        if timeoutMs < connectTimeoutMs || timeoutMs > 120_000 { problems.append("timeout_ms must be connect_timeout_ms–120000") }
        if !(1_000...600_000).contains(statementTimeoutMs) { problems.append("statement_timeout_ms must be 1000–600000") }
        if !(3_000...5_000).contains(pollIntervalMs) { problems.append("poll_interval_ms must be 3000–5000 (Alipay: poll every 3–5 s)") }
        if !(pollIntervalMs...120_000).contains(payDeadlineMs) { problems.append("pay_deadline_ms must be poll_interval_ms–120000") }
        if !(1...20).contains(cancelAttemptsMax) { problems.append("cancel_attempts_max must be 1–20") }
        if !(0...10_000).contains(cancelRetryIntervalMs) { problems.append("cancel_retry_interval_ms must be 0–10000") }
        if !problems.isEmpty { throw Invalid(problems: problems) }
    }
}

import Foundation

/// A credential: its text is never shown — not by `description`, `debugDescription`, `dump` or a mirror.
/// It encodes as the plain string (the configuration file holds it).
public struct WeChatPaySecret: Codable, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    /// The credential itself; read it only to sign.
    public let revealed: String

    public init(_ value: String) { revealed = value }

    public init(from decoder: Decoder) throws {
        revealed = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(revealed)
    }

    public var description: String { "***" }
    public var debugDescription: String { "***" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// The WeChat Pay merchant account and how to reach the provider. JSON with snake_case keys
/// (docs/CHANNELS.md "WeChat Pay"): every field but the account's has a default.
public struct WeChatPayConfiguration: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The official account / app the merchant number is bound to (`appid`).
    public var appID: String
    /// The merchant number (`mch_id`).
    public var merchantID: String
    /// A service provider's sub-merchant (`sub_mch_id`), and its app (`sub_appid`), for institution mode.
    public var subMerchantID: String?
    public var subAppID: String?
    /// The API v2 key (32 characters), inline …
    public var apiKey: WeChatPaySecret?
    /// … or in a file of its own (mode 0600), which is better.
    public var apiKeyFile: String?
    public var signType: WeChatPaySignType
    /// The merchant's API client certificate and its key (PEM; the key mode 0600), for `secapi` calls.
    public var clientCertificateFile: String
    public var clientKeyFile: String
    /// A CA file to trust instead of the system's store (tests: the simulator's CA). Nil: the system store.
    public var caFile: String?
    /// The nearest access point and the one in another city.
    public var primaryBaseURL: String
    public var backupBaseURL: String
    /// As the official SDK: 6 s to connect, 8 s to read the answer.
    public var connectTimeoutMs: Int
    public var readTimeoutMs: Int
    /// The service's pacing (`ChannelTiming`): ask every 5 s, reverse after 30 s (at most 45 s: the
    /// provider revokes an unpaid payment-code order 45 s after it was created), never reverse sooner
    /// than 15 s after the pay call.
    public var pollIntervalMs: Int64
    public var payDeadlineMs: Int64
    public var earliestReverseMs: Int64
    /// A reverse answered `recall=Y` is sent again, at most this many times in all, this long apart.
    public var reverseAttemptsMax: Int
    public var reversePauseMs: Int
    /// The domains' health (`WeChatPayDomainHealth`): how many unreachable attempts a domain is allowed
    /// before it is marked bad, and how long the primary stays marked bad.
    public var domainFailuresTolerated: Int
    public var primaryRetryAfterMs: Int64

    public static let primaryBaseURLDefault = "https://api.mch.weixin.qq.com"
    public static let backupBaseURLDefault = "https://api2.mch.weixin.qq.com"
    /// The provider revokes an unpaid payment-code order this long after creation.
    public static let providerRevokeMs: Int64 = 45_000

    public init(appID: String, merchantID: String, subMerchantID: String? = nil, subAppID: String? = nil,
                apiKey: WeChatPaySecret? = nil, apiKeyFile: String? = nil, signType: WeChatPaySignType = .md5,
                clientCertificateFile: String, clientKeyFile: String, caFile: String? = nil,
                primaryBaseURL: String = primaryBaseURLDefault, backupBaseURL: String = backupBaseURLDefault,
                connectTimeoutMs: Int = 6_000, readTimeoutMs: Int = 8_000,
                pollIntervalMs: Int64 = 5_000, payDeadlineMs: Int64 = 30_000, earliestReverseMs: Int64 = 15_000,
                reverseAttemptsMax: Int = 5, reversePauseMs: Int = 1_000,
                domainFailuresTolerated: Int = 2, primaryRetryAfterMs: Int64 = 180_000) {
        self.appID = appID; self.merchantID = merchantID; self.subMerchantID = subMerchantID; self.subAppID = subAppID
        self.apiKey = apiKey; self.apiKeyFile = apiKeyFile; self.signType = signType
        self.clientCertificateFile = clientCertificateFile; self.clientKeyFile = clientKeyFile; self.caFile = caFile
        self.primaryBaseURL = primaryBaseURL; self.backupBaseURL = backupBaseURL
        self.connectTimeoutMs = connectTimeoutMs; self.readTimeoutMs = readTimeoutMs
        self.pollIntervalMs = pollIntervalMs; self.payDeadlineMs = payDeadlineMs; self.earliestReverseMs = earliestReverseMs
        self.reverseAttemptsMax = reverseAttemptsMax; self.reversePauseMs = reversePauseMs
        self.domainFailuresTolerated = domainFailuresTolerated; self.primaryRetryAfterMs = primaryRetryAfterMs
    }

    enum CodingKeys: String, CodingKey {
        case appID = "appid", merchantID = "mch_id", subMerchantID = "sub_mch_id", subAppID = "sub_appid"
        case apiKey = "api_key", apiKeyFile = "api_key_file", signType = "sign_type"
        case clientCertificateFile = "client_certificate_file", clientKeyFile = "client_key_file", caFile = "ca_file"
        case primaryBaseURL = "primary_base_url", backupBaseURL = "backup_base_url"
        case connectTimeoutMs = "connect_timeout_ms", readTimeoutMs = "read_timeout_ms"
        case pollIntervalMs = "poll_interval_ms", payDeadlineMs = "pay_deadline_ms", earliestReverseMs = "earliest_reverse_ms"
        case reverseAttemptsMax = "reverse_attempts_max", reversePauseMs = "reverse_pause_ms"
        case domainFailuresTolerated = "domain_failures_tolerated", primaryRetryAfterMs = "primary_retry_after_ms"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = WeChatPayConfiguration(appID: "", merchantID: "", clientCertificateFile: "", clientKeyFile: "")
        appID = try c.decode(String.self, forKey: .appID)
        merchantID = try c.decode(String.self, forKey: .merchantID)
        subMerchantID = try c.decodeIfPresent(String.self, forKey: .subMerchantID)
        subAppID = try c.decodeIfPresent(String.self, forKey: .subAppID)
        apiKey = try c.decodeIfPresent(WeChatPaySecret.self, forKey: .apiKey)
        apiKeyFile = try c.decodeIfPresent(String.self, forKey: .apiKeyFile)
        signType = try c.decodeIfPresent(WeChatPaySignType.self, forKey: .signType) ?? d.signType
        clientCertificateFile = try c.decode(String.self, forKey: .clientCertificateFile)
        clientKeyFile = try c.decode(String.self, forKey: .clientKeyFile)
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        primaryBaseURL = try c.decodeIfPresent(String.self, forKey: .primaryBaseURL) ?? d.primaryBaseURL
        backupBaseURL = try c.decodeIfPresent(String.self, forKey: .backupBaseURL) ?? d.backupBaseURL
        connectTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .connectTimeoutMs) ?? d.connectTimeoutMs
        readTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .readTimeoutMs) ?? d.readTimeoutMs
        pollIntervalMs = try c.decodeIfPresent(Int64.self, forKey: .pollIntervalMs) ?? d.pollIntervalMs
        payDeadlineMs = try c.decodeIfPresent(Int64.self, forKey: .payDeadlineMs) ?? d.payDeadlineMs
        earliestReverseMs = try c.decodeIfPresent(Int64.self, forKey: .earliestReverseMs) ?? d.earliestReverseMs
        reverseAttemptsMax = try c.decodeIfPresent(Int.self, forKey: .reverseAttemptsMax) ?? d.reverseAttemptsMax
        reversePauseMs = try c.decodeIfPresent(Int.self, forKey: .reversePauseMs) ?? d.reversePauseMs
        domainFailuresTolerated = try c.decodeIfPresent(Int.self, forKey: .domainFailuresTolerated) ?? d.domainFailuresTolerated
        primaryRetryAfterMs = try c.decodeIfPresent(Int64.self, forKey: .primaryRetryAfterMs) ?? d.primaryRetryAfterMs
    }

    /// The pacing the service applies to this channel's payments.
    public var timing: ChannelTiming {
        ChannelTiming(pollIntervalMs: pollIntervalMs, payDeadlineMs: payDeadlineMs, earliestReverseMs: earliestReverseMs)
    }

    /// Everything but the key, which shows as `***`.
    public var description: String {
        var parts = ["appid: \(appID)", "mch_id: \(merchantID)"]
        if let subMerchantID { parts.append("sub_mch_id: \(subMerchantID)") }
        if let subAppID { parts.append("sub_appid: \(subAppID)") }
        parts.append("sign_type: \(signType.rawValue)")
        parts.append(apiKey != nil ? "api_key: ***" : "api_key_file: \(apiKeyFile ?? "none")")
        parts.append("client_certificate_file: \(clientCertificateFile)")
        parts.append("ca_file: \(caFile ?? "system store")")
        parts.append("primary: \(primaryBaseURL)")
        parts.append("backup: \(backupBaseURL)")
        return "WeChatPayConfiguration(" + parts.joined(separator: ", ") + ")"
    }

    // MARK: - Loading and checking

    /// Reads a JSON configuration file. One that holds the key itself must be readable by its owner only.
    public static func load(path: String) throws(WeChatPayConfigurationError) -> WeChatPayConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WeChatPayConfigurationError("cannot read \(path)")
        }
        let configuration = try decode(data, source: path)
        if configuration.apiKey != nil { try requireOwnerOnly(path, what: "a configuration file holding the API key") }
        return configuration
    }

    /// Reads JSON settings text (e.g. a store's channel settings in the base data). Settings kept where
    /// others can read them should name `api_key_file` rather than hold `api_key`.
    public static func parse(json: String) throws(WeChatPayConfigurationError) -> WeChatPayConfiguration {
        try decode(Data(json.utf8), source: "the settings")
    }

    private static func decode(_ data: Data, source: String) throws(WeChatPayConfigurationError) -> WeChatPayConfiguration {
        do {
            return try JSONDecoder().decode(WeChatPayConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw WeChatPayConfigurationError("\(source) is not a WeChat Pay configuration: \(Self.describe(error))")
        } catch {
            throw WeChatPayConfigurationError("\(source) is not a WeChat Pay configuration")
        }
    }

    /// The API key, from the configuration or its file, after checking it.
    public func resolvedAPIKey() throws(WeChatPayConfigurationError) -> String {
        let key: String
        switch (apiKey, apiKeyFile) {
        case (let inline?, nil):
            key = inline.revealed
        case (nil, let file?):
            try Self.requireOwnerOnly(file, what: "the API key file")
            guard let data = FileManager.default.contents(atPath: file) else {
                throw WeChatPayConfigurationError("cannot read the API key file \(file)")
            }
            key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        case (nil, nil):
            throw WeChatPayConfigurationError("neither api_key nor api_key_file is set")
        case (_?, _?):
            throw WeChatPayConfigurationError("set api_key or api_key_file, not both")
        }
        // The merchant platform's API v2 key is 32 characters.
        guard key.utf8.count == 32, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw WeChatPayConfigurationError("the API key is not 32 printable ASCII characters")
        }
        return key
    }

    /// Checks everything that can be checked without the network.
    public func validate() throws(WeChatPayConfigurationError) {
        guard !appID.isEmpty, appID.utf8.count <= 32, appID.utf8.allSatisfy(WeChatPayXML.isNameByte) else {
            throw WeChatPayConfigurationError("appid must be 1 to 32 letters and digits")
        }
        for (name, value) in [("mch_id", merchantID)] + (subMerchantID.map { [("sub_mch_id", $0)] } ?? []) {
            guard !value.isEmpty, value.utf8.count <= 32, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw WeChatPayConfigurationError("\(name) must be 1 to 32 digits")
            }
        }
        if let subAppID, subAppID.isEmpty || !subAppID.utf8.allSatisfy(WeChatPayXML.isNameByte) {
            throw WeChatPayConfigurationError("sub_appid must be letters and digits")
        }
        _ = try resolvedAPIKey()
        for (name, url) in [("primary_base_url", primaryBaseURL), ("backup_base_url", backupBaseURL)] {
            guard let parsed = URL(string: url), parsed.scheme == "https", parsed.host != nil,
                  parsed.query == nil, !url.hasSuffix("/") else {
                throw WeChatPayConfigurationError("\(name) must be an https:// base URL without a trailing slash")
            }
        }
        guard primaryBaseURL != backupBaseURL else {
            throw WeChatPayConfigurationError("primary_base_url and backup_base_url must differ")
        }
        guard FileManager.default.isReadableFile(atPath: clientCertificateFile) else {
            throw WeChatPayConfigurationError("cannot read the client certificate \(clientCertificateFile)")
        }
        try Self.requireOwnerOnly(clientKeyFile, what: "the client key file")
        guard FileManager.default.isReadableFile(atPath: clientKeyFile) else {
            throw WeChatPayConfigurationError("cannot read the client key \(clientKeyFile)")
        }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw WeChatPayConfigurationError("cannot read the CA file \(caFile)")
        }
        guard (100...60_000).contains(connectTimeoutMs), (100...60_000).contains(readTimeoutMs) else {
            throw WeChatPayConfigurationError("connect_timeout_ms and read_timeout_ms must be 100 to 60000")
        }
        guard pollIntervalMs >= 100, payDeadlineMs > 0, earliestReverseMs >= 0 else {
            throw WeChatPayConfigurationError("poll_interval_ms must be at least 100, pay_deadline_ms positive, earliest_reverse_ms not negative")
        }
        guard payDeadlineMs <= Self.providerRevokeMs else {
            throw WeChatPayConfigurationError("pay_deadline_ms must be at most 45000: WeChat Pay revokes an unpaid payment-code order 45 s after it was created")
        }
        guard (1...20).contains(reverseAttemptsMax), (0...10_000).contains(reversePauseMs) else {
            throw WeChatPayConfigurationError("reverse_attempts_max must be 1 to 20 and reverse_pause_ms 0 to 10000")
        }
        guard (0...100).contains(domainFailuresTolerated), primaryRetryAfterMs >= 0 else {
            throw WeChatPayConfigurationError("domain_failures_tolerated must be 0 to 100 and primary_retry_after_ms not negative")
        }
    }

    /// Refuses a secret's file that others than its owner may read or write.
    static func requireOwnerOnly(_ path: String, what: String) throws(WeChatPayConfigurationError) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue else {
            throw WeChatPayConfigurationError("cannot read \(what) \(path)")
        }
        guard permissions & 0o077 == 0 else {
            throw WeChatPayConfigurationError("\(what) \(path) is open to others (mode \(String(permissions, radix: 8))); chmod 600 it")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "\(key.stringValue) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "not JSON" : "\(path) has the wrong type or value"
        @unknown default: return "unreadable"
        }
    }
}

/// Why a WeChat Pay configuration cannot be used; never holds a credential.
public struct WeChatPayConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "WeChat Pay configuration: \(message)" }
}

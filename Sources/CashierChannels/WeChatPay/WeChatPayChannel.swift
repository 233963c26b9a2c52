import CashierCore
import CashierCrypto
import Foundation
import HTTPClient

/// WeChat Pay's payment-code payments (API v2, `pay/micropay` and its companions) as a `PaymentChannel`.
///
/// Every answer is verified (signature under the API key, our appid and mch_id) before anything in it is
/// believed; an answer that fails, or cannot be read, throws `.unverifiedAnswer` — it never becomes
/// "declined". No answer throws `.noAnswer`. Which of the two domains a call goes to is decided by
/// `WeChatPayDomainHealth` and `WeChatPayCallPlan`: a pay or refund is sent to the other domain only
/// when the failure proves it never left, and always on a connection of its own, so libcurl cannot
/// re-send it either. `secapi` calls present the merchant's API client certificate (mutual TLS).
///
/// Blocking: each call runs curl on the calling thread (the service's own threads, never Swift's pool).
public final class WeChatPayChannel: PaymentChannel, @unchecked Sendable {
    // @unchecked: the mutable state (`health`, `idle`) is only touched under `lock`; the rest is immutable.
    public let name = "wechatpay"
    public let timing: ChannelTiming
    public let configuration: WeChatPayConfiguration
    private let apiKey: String
    private let merchant: WeChatPayAnswers.Merchant
    private let clock: @Sendable () -> Int64
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var health: WeChatPayDomainHealth
    /// Kept-alive connections for calls that may be repeated, per domain and certificate use.
    private var idle: [ConnectionKind: [CurlConnection]] = [:]
    private static let idleConnectionsMax = 4

    /// - Parameters:
    ///   - clock: Unix ms, for the calls whose interface passes no time (the statement).
    ///   - log: one line per event worth an operator's eye (domain marked bad, reverse called again);
    ///     never holds a credential.
    public init(configuration: WeChatPayConfiguration,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
                log: @escaping @Sendable (String) -> Void = { _ in }) throws(WeChatPayConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.apiKey = try configuration.resolvedAPIKey()
        self.timing = configuration.timing
        self.merchant = WeChatPayAnswers.Merchant(appID: configuration.appID, merchantID: configuration.merchantID,
                                                  subMerchantID: configuration.subMerchantID)
        self.clock = clock
        self.log = log
        self.health = WeChatPayDomainHealth(failuresTolerated: configuration.domainFailuresTolerated,
                                            retryPrimaryAfterMs: configuration.primaryRetryAfterMs)
    }

    /// The domains' health as it stands (for status pages and tests).
    public var domainHealth: WeChatPayDomainHealth { lock.withLock { health } }

    // MARK: - PaymentChannel

    public func pay(_ request: ChannelPayRequest) throws -> ChannelPaymentState {
        guard WeChatPayChannel.isPaymentCode(request.paymentCode) else {
            // Nothing is sent: a WeChat code is 18 digits starting 10 to 15.
            return .declined(reason: DeclineReason.codeInvalid.rawValue,
                             message: DeclineReason.codeInvalid.message + " (not a WeChat Pay code)")
        }
        guard request.amount > 0, request.amount <= 10_000_000_000 else {
            throw ChannelError(.refused, "WeChat Pay pay: the amount \(request.amount) cannot be paid")
        }
        var parameters: [(String, String)] = [
            ("body", Self.text(request.description, maxBytes: 127, fallback: "Purchase")),
            ("out_trade_no", request.outTradeNo),
            ("total_fee", String(request.amount)),
            ("fee_type", try Self.currency(request.currency)),
            ("spbill_create_ip", Self.text(request.clientAddress, maxBytes: 64, fallback: "127.0.0.1")),
            ("auth_code", request.paymentCode),
        ]
        let device = Self.identifier(request.deviceID, maxBytes: 32)
        if !device.isEmpty { parameters.append(("device_info", device)) }
        if let scene = Self.sceneInfo(storeID: request.storeID) { parameters.append(("scene_info", scene)) }
        let fields = try call(.micropay, parameters, now: request.now)
        switch try WeChatPayAnswers.payVerdict(fields, outTradeNo: request.outTradeNo, amount: request.amount) {
        case .state(let state):
            return state
        case .askQuery(let code):
            // The order exists at the provider: what it is now is what the query says.
            log("WeChat Pay pay of \(request.outTradeNo) answered \(code); asking where it stands")
            let state = try query(outTradeNo: request.outTradeNo, now: request.now)
            return state == .notFound ? .unknown : state
        }
    }

    public func query(outTradeNo: String, now: Int64) throws -> ChannelPaymentState {
        let fields = try call(.orderquery, [("out_trade_no", outTradeNo)], now: now)
        return try WeChatPayAnswers.queryState(fields, outTradeNo: outTradeNo)
    }

    public func reverse(outTradeNo: String, payStartedAt: Int64, now: Int64) throws {
        let earliest = payStartedAt + timing.earliestReverseMs
        guard now >= earliest else {
            throw ChannelError(.notYet, "WeChat Pay reverses a payment no sooner than \(timing.earliestReverseMs / 1000) s after the pay call; \(earliest - now) ms to go")
        }
        var last = ""
        for attempt in 1...configuration.reverseAttemptsMax {
            let fields = try call(.reverse, [("out_trade_no", outTradeNo)], now: now)
            switch try WeChatPayAnswers.reverseVerdict(fields) {
            case .done:
                return
            case .callAgain(let why):
                last = why
                log("WeChat Pay reverse of \(outTradeNo): \(why) (call \(attempt) of \(configuration.reverseAttemptsMax))")
                if attempt < configuration.reverseAttemptsMax {
                    Thread.sleep(forTimeInterval: Double(configuration.reversePauseMs) / 1000)
                }
            }
        }
        throw ChannelError(.notYet, "WeChat Pay reverse of \(outTradeNo) still not done after \(configuration.reverseAttemptsMax) calls (\(last)); send it again later")
    }

    public func refund(_ request: ChannelRefundRequest) throws -> ChannelRefundState {
        guard request.amount > 0, request.amount <= request.orderAmount else {
            throw ChannelError(.refused, "WeChat Pay refund: the amount \(request.amount) cannot be refunded of \(request.orderAmount)")
        }
        var parameters: [(String, String)] = [
            ("out_trade_no", request.outTradeNo),
            ("out_refund_no", request.refundNo),
            ("total_fee", String(request.orderAmount)),
            ("refund_fee", String(request.amount)),
            ("refund_fee_type", try Self.currency(request.currency)),
        ]
        if let reason = request.reason {
            let text = Self.text(reason, maxBytes: 80, fallback: "")
            if !text.isEmpty { parameters.append(("refund_desc", text)) }
        }
        let fields = try call(.refund, parameters, now: request.now)
        switch try WeChatPayAnswers.refundVerdict(fields, refundNo: request.refundNo, outTradeNo: request.outTradeNo) {
        case .state(let state):
            return state
        case .accepted:
            // Accepted is not refunded: only the refund query says when it is done.
            do {
                let state = try queryRefund(refundNo: request.refundNo, outTradeNo: request.outTradeNo, now: request.now)
                return state == .notFound ? .processing : state
            } catch {
                return .processing
            }
        }
    }

    public func queryRefund(refundNo: String, outTradeNo: String, now: Int64) throws -> ChannelRefundState {
        let fields = try call(.refundquery, [("out_refund_no", refundNo)], now: now)
        return try WeChatPayAnswers.refundQueryState(fields, refundNo: refundNo, outTradeNo: outTradeNo)
    }

    public func statement(day: String) throws -> ChannelStatement {
        guard let billDate = WeChatPayBill.billDate(day: day) else {
            throw ChannelError(.refused, "WeChat Pay bill: the day \(day) is not yyyy-MM-dd")
        }
        let body = try send(.downloadbill, [("bill_date", billDate), ("bill_type", "ALL")], now: clock())
        if WeChatPayXML.looksLikeXML(body) {
            // A refusal (no bill, or not made yet): XML that is never signed, so read for its reason only.
            let fields = (try? WeChatPayXML.decode(body)) ?? [:]
            let message = WeChatPayAnswers.providerText(fields["return_msg"])
            guard fields["return_code"] == "FAIL" else {
                throw ChannelError(.unverifiedAnswer, "WeChat Pay bill: an XML answer that is not a refusal")
            }
            if message.localizedCaseInsensitiveContains("No Bill Exist") || message.localizedCaseInsensitiveContains("Bill Creating") {
                throw ChannelError(.notYet, "WeChat Pay has no bill for \(day) (yet): \(message)")
            }
            throw ChannelError(.refused, "WeChat Pay bill refused: \(message)")
        }
        let text = String(decoding: body, as: UTF8.self)
        guard Array(text.utf8) == body else { throw ChannelError(.unverifiedAnswer, "WeChat Pay bill: not UTF-8") }
        return ChannelStatement(day: day, lines: try WeChatPayBill.parse(text, merchant: merchant))
    }

    // MARK: - Calls

    enum API: String {
        case micropay = "/pay/micropay"
        case orderquery = "/pay/orderquery"
        case reverse = "/secapi/pay/reverse"
        case refund = "/secapi/pay/refund"
        case refundquery = "/pay/refundquery"
        case downloadbill = "/pay/downloadbill"

        var name: String {
            switch self {
            case .micropay: return "pay"
            case .orderquery: return "query"
            case .reverse: return "reverse"
            case .refund: return "refund"
            case .refundquery: return "refund query"
            case .downloadbill: return "bill"
            }
        }

        /// `secapi` calls need the merchant's client certificate.
        var needsCertificate: Bool { self == .reverse || self == .refund }

        var delivery: WeChatPayCallPlan.Delivery { self == .micropay || self == .refund ? .atMostOnce : .repeatable }

        var maxAnswerBytes: Int { self == .downloadbill ? WeChatPayBill.maxBytes : WeChatPayXML.maxBytesDefault }
    }

    /// One call whose answer is XML: sent, then verified.
    private func call(_ api: API, _ parameters: [(String, String)], now: Int64) throws(ChannelError) -> [String: String] {
        let body = try send(api, parameters, now: now)
        return try WeChatPayAnswers.verified(body, call: api.name, key: apiKey, signType: configuration.signType, merchant: merchant)
    }

    /// Signs the parameters with the account's own, sends them where the plan says, and returns the
    /// answer's body (HTTP 200 only).
    private func send(_ api: API, _ parameters: [(String, String)], now: Int64) throws(ChannelError) -> [UInt8] {
        var all: [(String, String)] = [("appid", configuration.appID), ("mch_id", configuration.merchantID)]
        if let sub = configuration.subMerchantID { all.append(("sub_mch_id", sub)) }
        if let subApp = configuration.subAppID { all.append(("sub_appid", subApp)) }
        all += parameters
        all.append(("nonce_str", Hex.encode(Crypto.randomBytes(16))))
        all.append(("sign_type", configuration.signType.rawValue))
        all.append(("sign", WeChatPaySignature.sign(all, key: apiKey, signType: configuration.signType)))
        let body: [UInt8]
        do {
            body = try WeChatPayXML.encode(all)
        } catch {
            throw ChannelError(.refused, "WeChat Pay \(api.name): \(error.description)")
        }

        let first = lock.withLock { health.domainForCall(now: now) }
        var plan = WeChatPayCallPlan(delivery: api.delivery, first: first)
        var step = plan.firstStep
        var failures: [String] = []
        while case .send(let domain) = step {
            switch attempt(api, body: body, at: domain) {
            case .success(let response):
                lock.withLock { health.record(.answered, at: domain, now: now) }
                guard response.status == 200 else {
                    throw ChannelError(.unverifiedAnswer, "WeChat Pay \(api.name): HTTP \(response.status) from the \(domain.rawValue) domain")
                }
                guard response.body.count <= api.maxAnswerBytes else {
                    throw ChannelError(.unverifiedAnswer, "WeChat Pay \(api.name): an answer larger than \(api.maxAnswerBytes) bytes")
                }
                return response.body
            case .failure(let error):
                let markedBad: Bool = lock.withLock {
                    let wasBad = health.isPrimaryBad
                    health.record(error.hostUnreachable ? .unreachable : .failedOtherwise, at: domain, now: now)
                    return !wasBad && health.isPrimaryBad
                }
                if markedBad { log("WeChat Pay: the primary domain is marked bad (\(error)); using the backup domain") }
                failures.append("\(domain.rawValue): \(error)")
                step = plan.next(after: error.requestSurelyNotSent ? .notSent : .maybeSent)
            }
        }
        let sentOnce = api.delivery == .atMostOnce && plan.tried.count == 1 && failures.count == 1
        throw ChannelError(.noAnswer, "WeChat Pay \(api.name): no answer (\(failures.joined(separator: "; ")))"
                           + (sentOnce ? "; not sent again: it may have arrived — ask instead" : ""))
    }

    private func attempt(_ api: API, body: [UInt8], at domain: WeChatPayDomain) -> Result<HTTPClientResponse, TransportError> {
        let base = domain == .primary ? configuration.primaryBaseURL : configuration.backupBaseURL
        let kind = ConnectionKind(domain: domain, certificate: api.needsCertificate)
        let fresh = api.delivery == .atMostOnce
        let connection: CurlConnection
        do {
            connection = try fresh ? makeConnection(kind, fresh: true) : takeConnection(kind)
        } catch {
            return .failure(error)
        }
        let result = connection.perform(method: "POST", url: base + api.rawValue,
                                        headers: ["Content-Type": "text/xml; charset=utf-8", "User-Agent": "cashierd-wechatpay/1"],
                                        body: body)
        if !fresh, case .success = result { giveBack(connection, kind) }
        return result
    }

    // MARK: - Connections

    struct ConnectionKind: Hashable {
        var domain: WeChatPayDomain
        var certificate: Bool
    }

    private func makeConnection(_ kind: ConnectionKind, fresh: Bool) throws(TransportError) -> CurlConnection {
        var http = HTTPClientConfiguration(caFile: configuration.caFile ?? "",
                                           connectTimeoutMs: configuration.connectTimeoutMs,
                                           totalTimeoutMs: configuration.connectTimeoutMs + configuration.readTimeoutMs)
        http.usesSystemTrustStore = configuration.caFile == nil
        if kind.certificate {
            http.clientCertificateFile = configuration.clientCertificateFile
            http.clientKeyFile = configuration.clientKeyFile
        }
        http.freshConnectionEachRequest = fresh
        return try CurlConnection(configuration: http)
    }

    private func takeConnection(_ kind: ConnectionKind) throws(TransportError) -> CurlConnection {
        if let kept = lock.withLock({ idle[kind]?.popLast() }) { return kept }
        return try makeConnection(kind, fresh: false)
    }

    private func giveBack(_ connection: CurlConnection, _ kind: ConnectionKind) {
        lock.withLock {
            if idle[kind, default: []].count < Self.idleConnectionsMax { idle[kind, default: []].append(connection) }
        }
    }

    // MARK: - Parameters

    /// 18 digits whose first two are 10 to 15.
    public static func isPaymentCode(_ code: String) -> Bool {
        let u = Array(code.utf8)
        guard u.count == 18, u.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        return u[0] == UInt8(ascii: "1") && u[1] <= UInt8(ascii: "5")
    }

    private static func currency(_ code: String) throws(ChannelError) -> String {
        guard code.utf8.count == 3, code.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            throw ChannelError(.refused, "WeChat Pay: the currency \(WeChatPayXML.printable(code)) is not an ISO 4217 code")
        }
        return code
    }

    /// Text the API can carry, cut to `maxBytes` of UTF-8 on a character boundary.
    static func text(_ value: String, maxBytes: Int, fallback: String) -> String {
        var out = ""
        var bytes = 0
        for character in value where WeChatPayXML.isEncodable(String(character)) && !character.isNewline {
            let n = character.utf8.count
            guard bytes + n <= maxBytes else { break }
            out.append(character)
            bytes += n
        }
        let trimmed = out.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? fallback : trimmed
    }

    /// Letters, digits, `_` and `-` only, at most `maxBytes`.
    static func identifier(_ value: String, maxBytes: Int) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.filter {
            $0.isASCII && (WeChatPayXML.isNameByte(UInt8($0.value)) || $0 == "-")
        }.prefix(maxBytes)))
    }

    /// `scene_info` naming the store, as the API documents it (`{"store_info":{"id":…}}`).
    static func sceneInfo(storeID: String) -> String? {
        let id = identifier(storeID, maxBytes: 32)
        return id.isEmpty ? nil : "{\"store_info\":{\"id\":\"\(id)\"}}"
    }
}

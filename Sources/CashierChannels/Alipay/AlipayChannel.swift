import CashierCore
import CashierCrypto
import Foundation
import HTTPClient

/// Alipay face-to-face barcode payment (当面付 条码支付) through the OpenAPI gateway, as one
/// `PaymentChannel`: `alipay.trade.pay` (`scene=bar_code`), `.query`, `.cancel`, `.refund`,
/// `.fastpay.refund.query`, and the day's statement via `alipay.data.dataservice.bill.downloadurl.query`.
///
/// Every answer is believed only if Alipay's signature over the exact bytes of its response object
/// checks out (`AlipayAnswer`); anything else throws `ChannelError` — never a decline. A pay is sent
/// on a fresh connection and never sent twice: after a failure in which it may have reached Alipay,
/// `pay` throws `.noAnswer` and the service asks by query. Only failures that prove the request never
/// left (refused, unresolved, connect timeout) move a call to the other gateway (`AlipayGatewayHealth`).
public final class AlipayChannel: PaymentChannel {
    public let name = "alipay"
    public let timing: ChannelTiming
    public let configuration: AlipayConfiguration

    private let privateKey: RSAPrivateKey
    private let alipayKey: RSAPublicKey
    private let transport: AlipayTransport

    /// Reads the keys named in `configuration`. Throws `AlipayConfiguration.Invalid` with what is wrong
    /// (never with key material).
    public init(configuration: AlipayConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
        privateKey = try Self.loadKey(configuration.appPrivateKeyFile, name: "app_private_key_file", secret: true) { try RSAPrivateKey(text: $0) }
        alipayKey = try Self.loadKey(configuration.alipayPublicKeyFile, name: "alipay_public_key_file", secret: false) { try RSAPublicKey(text: $0) }
        guard privateKey.bits >= 2048 else { throw AlipayConfiguration.Invalid(problems: ["app_private_key_file: RSA2 needs a key of 2048 bits or more"]) }
        guard alipayKey.bits >= 2048 else { throw AlipayConfiguration.Invalid(problems: ["alipay_public_key_file: RSA2 needs a key of 2048 bits or more"]) }
        let http = HTTPClientConfiguration(caFile: configuration.caFile ?? "", connectTimeoutMs: configuration.connectTimeoutMs,
                                           totalTimeoutMs: configuration.timeoutMs, usesSystemTrustStore: configuration.caFile == nil)
        transport = AlipayTransport(http: http, primary: configuration.primaryGatewayURL, backup: configuration.backupGatewayURL)
        // Alipay: query every 3–6 s for about 60 s, then cancel at once (no earliest cancel).
        timing = ChannelTiming(pollIntervalMs: configuration.pollIntervalMs, payDeadlineMs: configuration.payDeadlineMs, earliestReverseMs: 0)
    }

    /// The gateways' health as it stands (for operators and tests).
    public var gatewayHealth: AlipayGatewayHealth { transport.healthSnapshot }

    // MARK: - PaymentChannel

    public func pay(_ request: ChannelPayRequest) throws -> ChannelPaymentState {
        guard request.currency == "CNY" else { throw ChannelError(.refused, "Alipay face-to-face payment takes CNY, not \(request.currency)") }
        guard request.amount >= 1, request.amount <= 10_000_000_000 else { throw ChannelError(.refused, "amount \(request.amount) is outside 0.01–100000000.00 yuan") }
        // Not an Alipay payment code: nothing is sent, so nothing can be charged.
        guard AlipayMapping.isPaymentCode(request.paymentCode) else {
            return AlipayMapping.declined(.codeInvalid, subCode: "")
        }
        let biz = AlipayJSON.object([
            ("out_trade_no", .string(request.outTradeNo)),
            ("scene", .string("bar_code")),
            ("auth_code", .string(request.paymentCode)),
            ("product_code", .string("FACE_TO_FACE_PAYMENT")),
            ("subject", .string(Self.subject(request.description, outTradeNo: request.outTradeNo))),
            ("total_amount", .string(AlipayAmount.yuan(fen: request.amount))),
            ("seller_id", configuration.sellerID.map { .string($0) }),
            ("store_id", .string(String((request.storeID.isEmpty ? configuration.storeID : request.storeID).prefix(32)))),
            ("terminal_id", request.deviceID.isEmpty ? nil : .string(String(request.deviceID.prefix(32)))),
        ])
        let answer = try call("alipay.trade.pay", biz: biz, kind: .pay, now: request.now)
        try Self.check(answer, outTradeNo: request.outTradeNo)
        switch answer.code {
        case "10000":
            guard let tradeNo = answer.fields["trade_no"], !tradeNo.isEmpty else { return .unknown }
            if let total = answer.fields["total_amount"], AlipayAmount.fen(yuan: total) != request.amount {
                throw ChannelError(.unverifiedAnswer, "alipay.trade.pay answered paid for \(total) yuan, not \(AlipayAmount.yuan(fen: request.amount))")
            }
            return .paid(txn: tradeNo)
        case "10003":
            return .userConfirming
        case "20000":
            return .unknown
        case "40004":
            switch AlipayMapping.payFailure(subCode: answer.subCode) {
            case .unknown: return .unknown
            case let .declined(reason): return AlipayMapping.declined(reason, subCode: answer.subCode)
            case .alreadyPaid:
                // A repeated pay for a paid order: the query has the trade number. If it cannot be had now,
                // the service asks again.
                let state = (try? query(outTradeNo: request.outTradeNo, now: request.now)) ?? .unknown
                if case .paid = state { return state }
                return .unknown
            }
        default:
            throw Self.refusal(answer, method: "alipay.trade.pay")
        }
    }

    public func query(outTradeNo: String, now: Int64) throws -> ChannelPaymentState {
        let biz = AlipayJSON.object([("out_trade_no", .string(outTradeNo))])
        let answer = try call("alipay.trade.query", biz: biz, kind: .idempotent, now: now)
        try Self.check(answer, outTradeNo: outTradeNo)
        switch answer.code {
        case "10000":
            guard let state = AlipayMapping.tradeStatus(answer.fields["trade_status"] ?? "", tradeNo: answer.fields["trade_no"] ?? "") else {
                throw ChannelError(.unverifiedAnswer, "alipay.trade.query: trade_status \(answer.fields["trade_status"] ?? "missing") is not one we know")
            }
            return state
        case "10003": return .userConfirming
        case "20000": return .unknown
        case "40004":
            switch answer.subCode {
            case "ACQ.TRADE_NOT_EXIST": return .notFound
            case "ACQ.SYSTEM_ERROR": return .unknown
            default: throw Self.refusal(answer, method: "alipay.trade.query")
            }
        default:
            throw Self.refusal(answer, method: "alipay.trade.query")
        }
    }

    /// `alipay.trade.cancel`, called again (at most `cancel_attempts_max` times, `cancel_retry_interval_ms`
    /// apart) while Alipay answers `retry_flag=Y`. `action` says what Alipay did: `close` (unpaid,
    /// closed), `refund` (paid, money returned); either way the order can no longer be charged.
    public func reverse(outTradeNo: String, payStartedAt: Int64, now: Int64) throws {
        let biz = AlipayJSON.object([("out_trade_no", .string(outTradeNo))])
        let attempts = configuration.cancelAttemptsMax
        for attempt in 1...attempts {
            let at = now + Int64(attempt - 1) * Int64(configuration.cancelRetryIntervalMs)
            let answer = try call("alipay.trade.cancel", biz: biz, kind: .idempotent, now: at)
            try Self.check(answer, outTradeNo: outTradeNo)
            let retry = answer.fields["retry_flag"] == "Y"
            switch answer.code {
            case "10000" where !retry:
                return
            case "10000", "20000":
                break  // call again
            case "40004":
                if answer.subCode == "ACQ.TRADE_NOT_EXIST" && !retry {
                    // Alipay never saw a pay for this order: nothing was or can be charged under it.
                    return
                }
                guard retry || answer.subCode == "ACQ.SYSTEM_ERROR" else { throw Self.refusal(answer, method: "alipay.trade.cancel") }
            default:
                throw Self.refusal(answer, method: "alipay.trade.cancel")
            }
            if attempt < attempts, configuration.cancelRetryIntervalMs > 0 {
                Thread.sleep(forTimeInterval: Double(configuration.cancelRetryIntervalMs) / 1000)
            }
        }
        throw ChannelError(.notYet, "alipay.trade.cancel for \(outTradeNo) still asks to be called again after \(attempts) calls")
    }

    public func refund(_ request: ChannelRefundRequest) throws -> ChannelRefundState {
        guard request.currency == "CNY" else { throw ChannelError(.refused, "Alipay refunds CNY, not \(request.currency)") }
        guard request.amount >= 1, request.amount <= request.orderAmount else {
            return .refused(reason: ErrorCode.refundExceedsPaid.rawValue, message: "refund of \(request.amount) for an order of \(request.orderAmount)")
        }
        let biz = AlipayJSON.object([
            ("out_trade_no", .string(request.outTradeNo)),
            ("refund_amount", .string(AlipayAmount.yuan(fen: request.amount))),
            ("out_request_no", .string(request.refundNo)),
            ("refund_reason", request.reason.map { .string(String($0.prefix(80))) }),
        ])
        let answer = try call("alipay.trade.refund", biz: biz, kind: .idempotent, now: request.now)
        try Self.check(answer, outTradeNo: request.outTradeNo)
        switch answer.code {
        case "10000":
            if answer.fields["fund_change"] == "Y" { return .succeeded }
            // "N": this refund number was already refunded (a repeat), or nothing moved this time. Alipay
            // says to confirm such an answer with the refund query.
            let confirmed = try? queryRefund(refundNo: request.refundNo, outTradeNo: request.outTradeNo, now: request.now)
            return confirmed == .succeeded ? .succeeded : .processing
        case "20000":
            throw ChannelError(.notYet, "alipay.trade.refund: Alipay does not know yet (20000); send the same refund again")
        case "40004":
            guard let refusal = AlipayMapping.refundRefusal(subCode: answer.subCode) else {
                throw ChannelError(.notYet, "alipay.trade.refund: \(answer.subCode); send the same refund again")
            }
            return refusal
        default:
            throw Self.refusal(answer, method: "alipay.trade.refund")
        }
    }

    public func queryRefund(refundNo: String, outTradeNo: String, now: Int64) throws -> ChannelRefundState {
        let biz = AlipayJSON.object([("out_trade_no", .string(outTradeNo)), ("out_request_no", .string(refundNo))])
        let answer = try call("alipay.trade.fastpay.refund.query", biz: biz, kind: .idempotent, now: now)
        try Self.check(answer, outTradeNo: outTradeNo)
        switch answer.code {
        case "10000":
            // 10000 only says the query worked. A refund made by alipay.trade.refund exists when the answer
            // carries it (out_request_no and refund_amount); refund_status, when present, must be REFUND_SUCCESS.
            guard let number = answer.fields["out_request_no"], !number.isEmpty, let amount = answer.fields["refund_amount"],
                  !amount.isEmpty else { return .notFound }
            guard number == refundNo else { throw ChannelError(.unverifiedAnswer, "refund query answered for another refund number") }
            switch answer.fields["refund_status"] ?? "" {
            case "", "REFUND_SUCCESS": return .succeeded
            default: return .processing
            }
        case "20000":
            throw ChannelError(.notYet, "alipay.trade.fastpay.refund.query: Alipay does not know yet (20000)")
        case "40004":
            switch answer.subCode {
            case "ACQ.TRADE_NOT_EXIST": return .notFound
            case "ACQ.SYSTEM_ERROR": throw ChannelError(.notYet, "alipay.trade.fastpay.refund.query: ACQ.SYSTEM_ERROR")
            default: throw Self.refusal(answer, method: "alipay.trade.fastpay.refund.query")
            }
        default:
            throw Self.refusal(answer, method: "alipay.trade.fastpay.refund.query")
        }
    }

    public func statement(day: String) throws -> ChannelStatement {
        guard AlipayTime.isDay(day) else { throw ChannelError(.refused, "statement day \(day) is not yyyy-MM-dd") }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let biz = AlipayJSON.object([("bill_type", .string("trade")), ("bill_date", .string(day))])
        let method = "alipay.data.dataservice.bill.downloadurl.query"
        let answer = try call(method, biz: biz, kind: .idempotent, now: now)
        switch answer.code {
        case "10000":
            break
        case "40004" where answer.subCode.lowercased().contains("bill_not_exist"):
            throw ChannelError(.notYet, "no Alipay statement for \(day) yet (Alipay makes one the next day, after 10:00 Beijing time)")
        case "20000", "40004":
            throw ChannelError(.notYet, "\(method): \(answer.code) \(answer.subCode)")
        default:
            throw Self.refusal(answer, method: method)
        }
        guard let url = answer.fields["bill_download_url"], url.lowercased().hasPrefix("https://") else {
            throw ChannelError(.unverifiedAnswer, "\(method) gave no https download address")
        }
        switch transport.download(url, timeoutMs: configuration.statementTimeoutMs) {
        case let .failure(error):
            throw ChannelError(.noAnswer, "statement download: \(error)")
        case let .success(response):
            guard response.status == 200 else { throw ChannelError(.unverifiedAnswer, "statement download answered HTTP \(response.status)") }
            do {
                return ChannelStatement(day: day, lines: try AlipayStatement.lines(zip: response.body))
            } catch {
                throw ChannelError(.unverifiedAnswer, "statement unreadable: \(error.description)")
            }
        }
    }

    /// Alipay's statement days are Beijing days (UTC+8).
    public var statementUTCOffsetSeconds: Int64 { AlipayTime.shanghaiOffsetMs / 1_000 }

    /// The statement of `day` from a file: the zip `statement(day:)` downloads (as the merchant console's
    /// download gives it too), or the detail CSV out of it.
    public func statement(day: String, fromFile bytes: [UInt8]) throws -> ChannelStatement {
        guard AlipayTime.isDay(day) else { throw ChannelError(.refused, "statement day \(day) is not yyyy-MM-dd") }
        do {
            return ChannelStatement(day: day, lines: try AlipayStatement.lines(file: bytes, day: day))
        } catch {
            throw ChannelError(.unverifiedAnswer, "statement file unreadable: \(error.description)")
        }
    }

    // MARK: - One gateway call

    enum CallKind {
        /// Never sent twice: a fresh connection, and no second gateway once it may have left.
        case pay
        /// Safe to send again (queries, cancel, refunds by their number): after a failure in which it may
        /// have arrived, it is sent once to the other gateway.
        case idempotent
    }

    /// Sends one signed call and returns the answer once Alipay's signature over it checks out.
    func call(_ method: String, biz: String, kind: CallKind, now: Int64) throws(ChannelError) -> AlipayAnswer {
        let request = AlipayRequest(appID: configuration.appID, method: method, bizContent: biz,
                                    timestamp: AlipayTime.timestamp(unixMs: now), appAuthToken: configuration.appAuthToken)
        let signature: String
        do { signature = try request.signature(with: privateKey) } catch { throw ChannelError(.refused, "cannot sign \(method): \(error.message)") }
        let order = transport.order(now: now)
        var failures: [String] = []
        for (index, gateway) in order.enumerated() {
            guard let base = transport.urls[gateway] else { continue }
            let (url, body) = request.encoded(gateway: base, signature: signature)
            switch transport.post(gateway, url: url, body: body, timeoutMs: configuration.timeoutMs, fresh: kind == .pay, now: now) {
            case let .answered(response):
                return try verified(response, method: method, gateway: gateway)
            case let .notSent(error):
                failures.append("\(gateway.rawValue): \(error)")
            case let .maybeSent(error):
                failures.append("\(gateway.rawValue): \(error)")
                let retryElsewhere = kind == .idempotent && index + 1 < order.count
                guard retryElsewhere else {
                    throw ChannelError(.noAnswer, "\(method): no answer, and the call may have reached Alipay (\(failures.joined(separator: "; ")))")
                }
            }
        }
        throw ChannelError(.noAnswer, "\(method): no gateway reached (\(failures.joined(separator: "; ")))")
    }

    private func verified(_ response: HTTPClientResponse, method: String, gateway: AlipayGatewayHealth.Gateway) throws(ChannelError) -> AlipayAnswer {
        guard response.status == 200 else { throw ChannelError(.unverifiedAnswer, "\(method) via \(gateway.rawValue): HTTP \(response.status)") }
        let answer: AlipayAnswer
        do { answer = try AlipayAnswer.read(response.body, method: method) } catch {
            throw ChannelError(.unverifiedAnswer, "\(method) via \(gateway.rawValue): unreadable answer (\(error.description))")
        }
        guard answer.sign != nil else {
            // Gateway-level errors may come unsigned. They are reported, never believed as an outcome.
            if AlipayMapping.refusalCodes.contains(answer.code) {
                throw ChannelError(.refused, "\(method): Alipay refused the call, unsigned: \(answer.code) \(answer.subCode)")
            }
            throw ChannelError(.unverifiedAnswer, "\(method) via \(gateway.rawValue): unsigned answer (code \(answer.code))")
        }
        guard answer.isSigned(by: alipayKey) else {
            throw ChannelError(.unverifiedAnswer, "\(method) via \(gateway.rawValue): Alipay's signature does not match the answer")
        }
        return answer
    }

    // MARK: - Helpers

    /// A verified answer about another order than the one asked for is not an answer to this call.
    private static func check(_ answer: AlipayAnswer, outTradeNo: String) throws(ChannelError) {
        if let theirs = answer.fields["out_trade_no"], !theirs.isEmpty, theirs != outTradeNo {
            throw ChannelError(.unverifiedAnswer, "answer is about order \(theirs), not \(outTradeNo)")
        }
    }

    /// A signed answer that refuses the call itself, or one we cannot place.
    private static func refusal(_ answer: AlipayAnswer, method: String) -> ChannelError {
        if AlipayMapping.refusalCodes.contains(answer.code) || answer.code == "40004" {
            return ChannelError(.refused, "\(method): Alipay refused the call: \(answer.code) \(answer.subCode)")
        }
        return ChannelError(.unverifiedAnswer, "\(method): answer code \(answer.code) is not one we know")
    }

    /// `subject`: what the buyer's wallet shows. Alipay refuses `/`, `=` and `&` in it; at most 256 bytes.
    static func subject(_ description: String, outTradeNo: String) -> String {
        var cleaned = String(description.map { "/=&".contains($0) ? " " : $0 }).trimmingCharacters(in: .whitespacesAndNewlines)
        while cleaned.utf8.count > 256 { cleaned.removeLast() }
        return cleaned.isEmpty ? "Order \(outTradeNo)" : cleaned
    }

    private static func loadKey<K>(_ path: String, name: String, secret: Bool, _ make: (String) throws -> K) throws -> K {
        if secret, let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber,
           mode.intValue & 0o077 != 0 {
            throw AlipayConfiguration.Invalid(problems: ["\(name) \(path) is readable by others; chmod 600 it"])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AlipayConfiguration.Invalid(problems: ["\(name) \(path) cannot be read"])
        }
        do {
            return try make(String(decoding: data, as: UTF8.self))
        } catch let error as RSAKeyError {
            throw AlipayConfiguration.Invalid(problems: ["\(name) \(path): \(error.message)"])
        }
    }
}

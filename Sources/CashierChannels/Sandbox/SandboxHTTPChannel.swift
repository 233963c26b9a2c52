import Foundation
import HTTPClient

/// The sandbox channel as a service of its own (`cashierd sandbox serve`), reached over HTTP(S): the
/// adapter that lets instances on different hosts share one sandbox ledger, as they would share a real
/// provider. Its protocol is `SandboxWire` (docs/SANDBOX.md "The sandbox as a service").
///
/// Nothing it returns is a guess: every failure where no answer it can trust came back — a refused
/// connection, a timeout, a reset, a 5xx, a body that is not the protocol's — throws
/// `ChannelError(.noAnswer)`, and an answer whose signature fails (when a secret is configured) throws
/// `.unverifiedAnswer`; the service treats both as "unknown: ask again", never as declined. A pay goes
/// out on a fresh connection, so libcurl never sends it a second time on its own (`CurlConnection`).
public final class SandboxHTTPChannel: SandboxLedgerChannel {
    public struct Configuration: Sendable, Equatable {
        /// `http://HOST:PORT` or `https://HOST:PORT` (no path).
        public var url: String
        /// The CA that signed the service's certificate (https only).
        public var caFile: String?
        /// When set, requests are signed and answers must be (`SandboxSecret`).
        public var secret: SandboxSecret?
        public var connectTimeoutMs: Int
        /// Per call; longer than the slow scenario's delay, or its pays time out.
        public var timeoutMs: Int
        /// How the service paces the sandbox's payments.
        public var timing: ChannelTiming

        public init(url: String, caFile: String? = nil, secret: SandboxSecret? = nil, connectTimeoutMs: Int = 2_000,
                    timeoutMs: Int = 10_000, timing: ChannelTiming = SandboxChannel.standardTiming) {
            self.url = url; self.caFile = caFile; self.secret = secret
            self.connectTimeoutMs = connectTimeoutMs; self.timeoutMs = timeoutMs; self.timing = timing
        }
    }

    public let name = "sandbox"
    public var timing: ChannelTiming { configuration.timing }
    public let configuration: Configuration
    private let base: String
    private let connections: Connections

    /// Checks the configuration; nothing is sent.
    public init(configuration: Configuration) throws {
        var url = configuration.url
        while url.hasSuffix("/") { url.removeLast() }
        let https = url.hasPrefix("https://")
        guard https || url.hasPrefix("http://"), url.count > (https ? 8 : 7),
              !url.dropFirst(https ? 8 : 7).contains("/") else {
            throw ChannelError(.refused, "the sandbox service's URL must be http://HOST:PORT or https://HOST:PORT, not \(configuration.url)")
        }
        if https && (configuration.caFile ?? "").isEmpty {
            throw ChannelError(.refused, "an https sandbox service needs the CA file that signed its certificate")
        }
        guard configuration.timeoutMs >= 100, configuration.connectTimeoutMs >= 100 else {
            throw ChannelError(.refused, "the sandbox service's timeouts must be at least 100 ms")
        }
        self.configuration = configuration
        base = url
        connections = Connections(HTTPClientConfiguration(caFile: configuration.caFile ?? "", connectTimeoutMs: configuration.connectTimeoutMs,
                                                          totalTimeoutMs: configuration.timeoutMs))
    }

    // MARK: - PaymentChannel

    public func pay(_ request: ChannelPayRequest) throws -> ChannelPaymentState {
        let body = SandboxWire.PayBody(outTradeNo: request.outTradeNo, amount: request.amount, currency: request.currency,
                                       paymentCode: request.paymentCode, now: request.now)
        // Never sent twice: a fresh connection, which libcurl does not retry.
        let answer = try call(SandboxWire.payPath, body, SandboxWire.PaymentAnswer.self, fresh: true)
        return try payment(answer, outTradeNo: request.outTradeNo, SandboxWire.payPath)
    }

    public func query(outTradeNo: String, now: Int64) throws -> ChannelPaymentState {
        let answer = try call(SandboxWire.queryPath, SandboxWire.QueryBody(outTradeNo: outTradeNo, now: now), SandboxWire.PaymentAnswer.self)
        return try payment(answer, outTradeNo: outTradeNo, SandboxWire.queryPath)
    }

    public func reverse(outTradeNo: String, payStartedAt: Int64, now: Int64) throws {
        let answer = try call(SandboxWire.reversePath, SandboxWire.ReverseBody(outTradeNo: outTradeNo, payStartedAt: payStartedAt, now: now),
                              SandboxWire.ReverseAnswer.self)
        guard answer.outTradeNo == outTradeNo else { throw Self.mixedUp(SandboxWire.reversePath, answer.outTradeNo, outTradeNo) }
        guard answer.done else { throw ChannelError(.noAnswer, "\(SandboxWire.reversePath): the sandbox did not say the reversal is done") }
    }

    public func refund(_ request: ChannelRefundRequest) throws -> ChannelRefundState {
        let answer = try call(SandboxWire.refundPath, SandboxWire.RefundBody(request), SandboxWire.RefundAnswer.self)
        return try refundState(answer, refundNo: request.refundNo, SandboxWire.refundPath)
    }

    public func queryRefund(refundNo: String, outTradeNo: String, now: Int64) throws -> ChannelRefundState {
        let answer = try call(SandboxWire.refundQueryPath, SandboxWire.RefundQueryBody(refundNo: refundNo, outTradeNo: outTradeNo, now: now),
                              SandboxWire.RefundAnswer.self)
        return try refundState(answer, refundNo: refundNo, SandboxWire.refundQueryPath)
    }

    /// The sandbox's days are UTC days, as in process.
    public var statementUTCOffsetSeconds: Int64 { 0 }

    public func statement(day: String, fromFile bytes: [UInt8]) throws -> ChannelStatement {
        try SandboxChannel.readStatementFile(day: day, bytes)
    }

    public func statement(day: String) throws -> ChannelStatement {
        let answer = try call(SandboxWire.statementPath, SandboxWire.StatementBody(day: day), SandboxWire.StatementAnswer.self)
        guard answer.day == day, let statement = answer.statement else {
            throw ChannelError(.noAnswer, "\(SandboxWire.statementPath): the answer is not the statement of \(day)")
        }
        return statement
    }

    public func books(now: Int64) throws -> SandboxChannel.Books {
        guard let books = try call(SandboxWire.booksPath, SandboxWire.BooksBody(now: now), SandboxWire.BooksAnswer.self).books else {
            throw ChannelError(.unverifiedAnswer, "the sandbox's books hold a line of a kind this service does not know")
        }
        return books
    }

    // MARK: - The call

    private func payment(_ answer: SandboxWire.PaymentAnswer, outTradeNo: String, _ path: String) throws -> ChannelPaymentState {
        guard answer.outTradeNo == outTradeNo else { throw Self.mixedUp(path, answer.outTradeNo, outTradeNo) }
        guard let state = answer.paymentState else { throw ChannelError(.noAnswer, "\(path): state \(answer.state) is not one the sandbox has") }
        return state
    }

    private func refundState(_ answer: SandboxWire.RefundAnswer, refundNo: String, _ path: String) throws -> ChannelRefundState {
        guard answer.refundNo == refundNo else { throw Self.mixedUp(path, answer.refundNo, refundNo) }
        guard let state = answer.refundState else { throw ChannelError(.noAnswer, "\(path): state \(answer.state) is not one the sandbox has") }
        return state
    }

    private static func mixedUp(_ path: String, _ got: String, _ asked: String) -> ChannelError {
        ChannelError(.unverifiedAnswer, "\(path): the answer is about \(got), not \(asked)")
    }

    /// One POST; the answer decoded, or a `ChannelError` that says there is no answer to believe.
    private func call<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body, _: Answer.Type, fresh: Bool = false) throws -> Answer {
        let bytes = SandboxWire.encode(body)
        var headers = ["Content-Type": "application/json"]
        let signature = configuration.secret?.requestSignature(method: "POST", path: path, body: bytes)
        if let signature { headers[SandboxWire.signatureHeader] = signature }
        let response: HTTPClientResponse
        switch connections.perform(url: base + path, headers: headers, body: bytes, fresh: fresh) {
        case .failure(let error): throw ChannelError(.noAnswer, "sandbox service \(path): \(error)")
        case .success(let r): response = r
        }
        guard response.status < 500 else {
            throw ChannelError(.noAnswer, "sandbox service \(path): HTTP \(response.status)\(Self.detail(response.body))")
        }
        if let secret = configuration.secret, let signature {
            let expected = secret.answerSignature(requestSignature: signature, status: response.status, body: response.body)
            guard SandboxSecret.matches(response.headers[SandboxWire.signatureHeader.lowercased()], expected) else {
                throw ChannelError(.unverifiedAnswer, "sandbox service \(path): HTTP \(response.status) without a valid signature")
            }
        }
        guard response.status == 200 else {
            // The service's own refusal says what it is; anything else is not an answer of the protocol.
            if (400..<500).contains(response.status), let refusal = try? SandboxWire.decode(SandboxWire.ErrorAnswer.self, from: response.body),
               let kind = ChannelError.Kind(rawValue: refusal.error) {
                throw ChannelError(kind, "sandbox service \(path): \(refusal.detail)")
            }
            throw ChannelError(.noAnswer, "sandbox service \(path): HTTP \(response.status)\(Self.detail(response.body))")
        }
        do {
            return try SandboxWire.decode(Answer.self, from: response.body)
        } catch {
            throw ChannelError(.noAnswer, "sandbox service \(path): the answer cannot be read (\(response.body.count) bytes)")
        }
    }

    private static func detail(_ body: [UInt8]) -> String {
        guard let e = try? SandboxWire.decode(SandboxWire.ErrorAnswer.self, from: body) else { return "" }
        return ": \(e.detail)"
    }

    /// Idle libcurl connections to the service: a call borrows one (or opens one) and gives it back, so
    /// concurrent calls never share a `CurlConnection`. `@unchecked Sendable`: `idle` is guarded by `lock`.
    private final class Connections: @unchecked Sendable {
        static let maxIdle = 8
        let http: HTTPClientConfiguration
        private let lock = NSLock()
        private var idle: [CurlConnection] = []

        init(_ http: HTTPClientConfiguration) { self.http = http }

        func perform(url: String, headers: [String: String], body: [UInt8], fresh: Bool) -> Result<HTTPClientResponse, TransportError> {
            let connection: CurlConnection
            if let c = lock.withLock({ idle.popLast() }) {
                connection = c
            } else {
                do { connection = try CurlConnection(configuration: http) } catch { return .failure(error) }
            }
            let result = connection.perform(method: "POST", url: url, headers: headers, body: body, freshConnection: fresh)
            lock.withLock { if idle.count < Self.maxIdle { idle.append(connection) } }
            return result
        }
    }
}

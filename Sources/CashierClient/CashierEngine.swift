import CashierCore
import CashierCrypto
import Foundation
import HTTPClient

/// The terminal's engine: activation, status, sales, refunds and order look-ups over the active domain,
/// with failover through `DomainProber` and a journal so nothing about a payment is lost or doubled.
///
/// Methods block the calling thread (the network is libcurl); call them from threads of your own.
/// Several may run at once from different threads.
public final class CashierEngine: @unchecked Sendable {
    // @unchecked: `credentialsValue` and `subscribers` are guarded by `lock`; the rest is immutable.
    public let configuration: ClientConfiguration
    /// Items by code, from `catalog_path`.
    private let catalog: [String: OrderItem]
    public let prober: DomainProber
    public let journal: Journal
    private let transports: [SignedTransport]
    /// The time every request of this terminal is signed with: its clock, corrected by the service if off.
    public let serviceClock: ServiceClock
    private let keystore: Keystore
    let log: ClientLog
    private let lock = NSLock()
    /// One key rotation at a time (held across its requests; never while `lock` is).
    private let rotationLock = NSLock()
    private var credentialsValue: DeviceCredentials?
    private var subscribers: [Int: @Sendable (EngineEvent) -> Void] = [:]
    private var nextSubscriber = 0
    /// One pass of forwarding offline cash sales at a time.
    let forwarding = NSLock()
    private var forwarder: CashSaleForwarder?

    /// Reads the keystore (refusing an insecure one), opens the journal and the domains' connections.
    /// Probing starts with `start()`.
    public init(configuration: ClientConfiguration) throws(APIError) {
        let problems = configuration.problems()
        guard problems.isEmpty else { throw APIError(.configInvalid, detail: problems.joined(separator: "; ")) }
        self.configuration = configuration
        self.catalog = try Self.loadCatalog(configuration.catalogPath)
        self.keystore = Keystore(path: configuration.keystorePath)
        self.log = ClientLog(path: configuration.logPath)
        self.credentialsValue = try keystore.load()
        do {
            journal = try Journal(path: configuration.journalPath)
        } catch {
            throw APIError(.configInvalid, detail: "cannot open the journal \(configuration.journalPath): \(error)")
        }
        let log = self.log
        let clock = ServiceClock(onCorrection: { offsetMs in
            log.write("this terminal's clock is \(ClockCorrection.describe(offsetMs: offsetMs)) the service's; "
                      + "signing with the service's time (set the clock right)")
        })
        serviceClock = clock
        do {
            transports = try configuration.domains.map { try SignedTransport(baseURL: $0, http: configuration.http, clock: clock) }
            let box = WeakEngine()
            prober = try DomainProber(urls: configuration.domains, configuration: configuration, clock: clock,
                                      storeSeen: { box.engine?.noteStore($0) }) {
                box.engine?.credentials
            }
            box.engine = self
        } catch {
            throw APIError(.configInvalid, detail: "cannot set up the connections: \(error)")
        }
        prober.subscribe { [weak self] news in self?.probeNews(news) }
    }

    /// Keeps the store as the service now describes it (a new time zone, a new name) in the keystore.
    func noteStore(_ store: StoreInfo) {
        lock.lock()
        guard var creds = credentialsValue, creds.store != store, creds.store.storeId == store.storeId else { lock.unlock(); return }
        creds.store = store
        credentialsValue = creds
        lock.unlock()
        do { try keystore.save(creds) } catch { log.write("the store's new details are not kept: \(error)") }
        log.write("store \(store.storeId) now: \(store.storeName), time zone \(store.timeZone ?? "UTC")")
    }

    /// Loads the configuration from `--config`, `CASHIER_CONFIG` or the user's config directory.
    public static func open(configPath: String?) throws(APIError) -> CashierEngine {
        let path = ClientConfiguration.defaultPath(explicit: configPath)
        return try CashierEngine(configuration: try ClientConfiguration.load(path: path))
    }

    deinit { prober.stop() }

    /// Starts the start-up probe of every domain. A key rotation left unsettled by an earlier run is
    /// settled first, so the probes are signed with the key the service holds.
    public func start() {
        log.write("starting; domains \(configuration.domains.joined(separator: ", "))")
        if credentials?.pendingPrivateKey != nil { _ = settleRotation() }
        prober.startUp()
        if configuration.rememberedProbeMs > 0, credentials != nil,
           let kept = try? journal.latestProbeResult(among: configuration.domains),
           let index = configuration.domains.firstIndex(of: kept.domain) {
            prober.remember(domain: index, latencyMs: kept.latencyMs, atMs: kept.atMs, maxAgeMs: configuration.rememberedProbeMs)
        }
        let forwarder = CashSaleForwarder(engine: self)
        lock.lock(); self.forwarder = forwarder; lock.unlock()
        forwarder.start()
    }

    /// Stops probing timers and the forwarding of offline cash sales.
    public func stop() {
        prober.stop()
        lock.lock(); let forwarder = self.forwarder; self.forwarder = nil; lock.unlock()
        forwarder?.stop()
    }

    public var credentials: DeviceCredentials? { lock.lock(); defer { lock.unlock() }; return credentialsValue }

    @discardableResult
    public func subscribe(_ handler: @escaping @Sendable (EngineEvent) -> Void) -> Int {
        lock.lock(); defer { lock.unlock() }
        nextSubscriber += 1
        subscribers[nextSubscriber] = handler
        return nextSubscriber
    }

    public func unsubscribe(_ id: Int) { lock.lock(); subscribers[id] = nil; lock.unlock() }

    func emit(_ event: EngineEvent) {
        lock.lock(); let handlers = Array(subscribers.values); lock.unlock()
        for h in handlers { h(event) }
    }

    private func probeNews(_ news: ProbeNews) {
        switch news {
        case let .result(d, r, latency, error):
            log.write("probe \(r) \(configuration.domains[d]): " + (latency.map { "\($0) ms" } ?? "failed: \(error ?? "")"))
            if let latency, credentials != nil {
                try? journal.saveProbeResult(domain: configuration.domains[d], latencyMs: latency, atMs: nowMs())
            }
        case let .switched(from, to):
            log.write("active domain \(from.map { configuration.domains[$0] } ?? "none") -> \(configuration.domains[to])")
        case let .unreachable(n, retry):
            log.write("no domain answered (\(n) rounds in a row); next round in \(retry) ms")
        case .coalesced, .roundStarted: break
        }
        emit(.probe(news))
    }

    /// How long a caller waits for a probe round it needs.
    private var probeWaitMs: Int64 { configuration.probe.minIntervalMs + configuration.probe.probeTimeoutMs + 500 }

    func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: - Status

    public func status() -> EngineStatus {
        let machine = prober.snapshot
        let failures = prober.failures
        let domains = machine.domains.enumerated().map { i, d -> DomainView in
            let state: String
            if machine.active == i && d.error == nil { state = "active" }
            else if d.error != nil, case .service(let e) = failures[i], e.code == .overloaded { state = "busy" }
            else if d.error != nil { state = "down" }
            else if d.latencyMs != nil { state = "standby" }
            else { state = "unknown" }
            return DomainView(url: configuration.domains[i], state: state, latencyMs: d.latencyMs, error: d.error, checkedAtMs: d.atMs)
        }
        let creds = credentials
        let unfinished = (try? journal.unfinishedSales().count) ?? 0
        return EngineStatus(domains: domains, activeDomain: machine.active, unreachable: machine.unreachable,
                            probeRounds: machine.round, deviceId: creds?.deviceId, store: creds?.store, unfinishedSales: unfinished,
                            clockOffsetMs: serviceClock.offsetMs, staff: try? journal.signedInStaff(),
                            shift: try? journal.currentShift(), cashSalesToForward: cashSalesToForward)
    }

    /// Waits (bounded) until the start-up round has a winner or ended, then returns the status.
    public func statusAfterProbe() -> EngineStatus {
        _ = prober.activeOrAwait(timeoutMs: probeWaitMs)
        // Let the slower domains of the round report too, so the table shows every latency.
        let deadline = Date().addingTimeInterval(Double(configuration.probe.probeTimeoutMs) / 1000)
        while prober.snapshot.roundRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return status()
    }

    // MARK: - Requests with failover

    /// Whether a failed request may be sent again on the newly chosen domain.
    enum RetryPolicy {
        /// Creates, queries, reverses, refunds (with their reference), list: repeating them is harmless,
        /// and they get the short timeout.
        case safe
        /// The one-call sale: repeating it is harmless (its number meets the order it placed), but its
        /// answer waits for the channel, so it gets the whole request timeout.
        case safeButSlow
        /// Pay and activation: only when the request surely did not leave.
        case onlyIfNotSent

        /// Whether the request may be sent again, to any domain, after a failure that may have let it arrive.
        var mayBeSentAgain: Bool { self != .onlyIfNotSent }
    }

    /// Nil when some domain answers (waiting, bounded, for the round under way), even if only to refuse
    /// for load, else why none does.
    public func reachability() -> APIError? {
        (prober.activeOrAwait(timeoutMs: probeWaitMs) ?? busyDomain()) == nil ? noDomainFailure().apiError : nil
    }

    /// A domain to send to although none has won a probe round, when every domain refused its probe only
    /// for load (`OVERLOADED`): the service is there, and the request's own refusals are tried again
    /// after pauses (`retryWhileBusy`). Nil otherwise.
    private func busyDomain() -> Int? {
        let failures = prober.failures
        guard failures.count == configuration.domains.count, failures.values.allSatisfy({
            if case .service(let e) = $0 { return e.code == .overloaded } else { return false }
        }) else { return nil }
        log.write("every domain refused its probe for load; sending anyway")
        return failures.keys.min()
    }

    /// The failure when no domain is active: TLS_UNTRUSTED when every domain refused our trust, else unreachable.
    private func noDomainFailure() -> CallFailure {
        let failures = prober.failures
        if !failures.isEmpty, failures.count == configuration.domains.count,
           let tls = failures.values.first(where: { $0.code == .tlsUntrusted }),
           failures.values.allSatisfy({ $0.code == .tlsUntrusted }) {
            return tls
        }
        if let unverified = failures.values.first(where: { $0.code == .responseUnverified }),
           failures.values.allSatisfy({ $0.code == .responseUnverified }) {
            return unverified
        }
        return .transport(.couldNotConnect("no service domain answered its probe"))
    }

    /// Sends one request to the active domain; on a timeout or connection failure it asks for a probe
    /// and, where `policy` allows, sends it once more to the newly chosen domain.
    func perform(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
                 policy: RetryPolicy, send: ((SignedTransport) -> Result<SignedTransport.Answer, CallFailure>)? = nil)
        -> Result<SignedTransport.Answer, CallFailure> {
        let creds = credentials
        let sendOn: @Sendable (SignedTransport) -> Result<SignedTransport.Answer, CallFailure> = { [configuration] t in
            guard let creds else { return .failure(.service(APIError(.notActivated))) }
            // A request that is safe to send again gets the short timeout: if its domain has gone silent, the
            // probe and the second domain are reached in seconds.
            let timeout = policy == .safe ? min(configuration.safeRequestTimeoutMs, configuration.requestTimeoutMs) : nil
            // A request that must never arrive twice rides a connection of its own (no silent resend by libcurl).
            return t.call(method, path, query: query, body: body, credentials: creds, timeoutMs: timeout,
                          freshConnection: !policy.mayBeSentAgain)
        }
        if send == nil && creds == nil { return .failure(.service(APIError(.notActivated))) }
        guard let active = prober.activeOrAwait(timeoutMs: probeWaitMs) ?? busyDomain() else { return .failure(noDomainFailure()) }
        var (domain, first) = if let send {
            (active, send(transports[active]))
        } else {
            sendWatchingForSilence("\(method) \(path)", on: active,
                                   whenAnotherDomainWins: policy.mayBeSentAgain ? .sendThereToo : .stopWaiting, sendOn)
        }
        if send == nil, case .failure(.service(let e)) = first, e.code == .nonceReplayed, policy.mayBeSentAgain {
            // The same signed bytes arrived twice (a connection or front door re-sent them after a failure);
            // the first copy's answer was lost. A safe request is signed afresh and sent again.
            log.write("\(method) \(path) was refused as a replay; signing it again")
            first = sendOn(transports[domain])
        }
        if send == nil { (domain, first) = retryWhileBusy(method, path, domain: domain, first, sendOn) }
        guard case .failure(let failure) = first, failure.suggestsProbe else { return first }
        log.write("\(method) \(path) on \(configuration.domains[domain]) failed: \(failure)")
        let round = prober.requestFailed(domain: domain, reason: failure.description)
        guard policy.mayBeSentAgain || !failure.mayHaveArrived else {
            log.write("\(method) \(path) may have arrived; not sent again")
            return first
        }
        guard let next = prober.awaitChoice(round: round, timeoutMs: probeWaitMs) else { return .failure(noDomainFailure()) }
        log.write("retrying \(method) \(path) on \(configuration.domains[next])")
        return send.map { $0(transports[next]) } ?? sendOn(transports[next])
    }

    typealias Answered = (domain: Int, result: Result<SignedTransport.Answer, CallFailure>)

    /// Sends a request refused for now (`BusyRefusal`: it did nothing) again, up to `busyRetries` times:
    /// to another domain whose latest probe was good if there is one not tried yet, else to the same
    /// domain after a pause. Returns the last answer and the domain that gave it.
    private func retryWhileBusy(_ method: String, _ path: String, domain: Int, _ first: Result<SignedTransport.Answer, CallFailure>,
                                _ sendOn: @Sendable (SignedTransport) -> Result<SignedTransport.Answer, CallFailure>) -> Answered {
        var (domain, result) = (domain, first)
        var tried: Set<Int> = [domain]
        var attempt = 0
        while attempt < configuration.busyRetries, case .failure(.service(let refusal)) = result,
              BusyRefusal.isBusy(refusal.code, method: method, path: path) {
            attempt += 1
            let machine = prober.snapshot
            if let other = machine.domains.indices.first(where: { !tried.contains($0) && machine.domains[$0].error == nil
                                                                    && machine.domains[$0].latencyMs != nil }) {
                log.write("\(method) \(path) refused for now by \(configuration.domains[domain]) (\(refusal.code.rawValue)); "
                          + "sending it to \(configuration.domains[other])")
                domain = other
                tried.insert(other)
            } else {
                let pause = BusyRefusal.delayMs(attempt: attempt, baseMs: configuration.busyRetryBaseMs, unitRandom: Double.random(in: 0..<1))
                log.write("\(method) \(path) refused for now by \(configuration.domains[domain]) (\(refusal.code.rawValue)); "
                          + "trying again in \(pause) ms")
                Thread.sleep(forTimeInterval: Double(pause) / 1000)
            }
            result = sendOn(transports[domain])
        }
        return (domain, result)
    }

    /// What becomes of a request still unanswered when another domain wins the slow-request probe round.
    enum WhenAnotherDomainWins {
        /// It is sent there as well and the first answer counts: for requests safe to send again.
        case sendThereToo
        /// It is given up as a timeout after connecting (it may have arrived): for pay, which is never sent
        /// twice; the sale then asks the server, on the domain that answers, where the order stands.
        case stopWaiting
    }

    /// Sends a request to `domain` and watches for the domain going silent (accepting connections, never
    /// answering). With no answer after `slowRequestProbeMs` a probe round is asked for while the request
    /// keeps waiting; if another domain wins it, `whenAnotherDomainWins` says what happens. A silent domain
    /// then costs about `slowRequestProbeMs` instead of the whole timeout; a domain that is merely slow
    /// keeps answering its probes and keeps the request. Returns the first answer with the domain that
    /// gave it, or the latest failure once every copy has failed. A copy given up on runs on until its
    /// own timeout and its answer is dropped.
    private func sendWatchingForSilence(_ label: String, on domain: Int, whenAnotherDomainWins: WhenAnotherDomainWins,
                                        _ sendOn: @escaping @Sendable (SignedTransport) -> Result<SignedTransport.Answer, CallFailure>)
        -> Answered {
        let slowMs = configuration.slowRequestProbeMs
        guard slowMs > 0, transports.count > 1 else { return (domain, sendOn(transports[domain])) }
        let race = FirstAnswer<SignedTransport.Answer, CallFailure>(isTransportFailure: { $0.suggestsProbe })
        let transport = transports[domain]
        race.start(domain: domain) { sendOn(transport) }
        if let done = race.wait(milliseconds: slowMs) { return done }
        log.write("\(label) on \(configuration.domains[domain]) has no answer after \(slowMs) ms; probing")
        prober.requestSlow(domain: domain, afterMs: Int64(slowMs))
        var sentElsewhere = false
        while true {
            if let done = race.wait(milliseconds: 20) { return done }
            guard !sentElsewhere, let other = prober.active, other != domain else { continue }
            switch whenAnotherDomainWins {
            case .sendThereToo:
                log.write("sending \(label) on \(configuration.domains[other]) as well")
                let otherTransport = transports[other]
                race.start(domain: other) { sendOn(otherTransport) }
                sentElsewhere = true
            case .stopWaiting:
                log.write("\(label): \(configuration.domains[domain]) lost the probe round to \(configuration.domains[other]); "
                          + "no longer waiting for its answer")
                return (domain, .failure(.transport(.timedOut(afterConnect: true))))
            }
        }
    }

    // MARK: - Activation

    /// Redeems an activation code and stores the device key (mode 0600) beside the configuration.
    ///
    /// The terminal makes an Ed25519 key pair and sends only the public key: the private key never
    /// leaves the keystore, and the service keeps no secret for this terminal. A service from before
    /// public keys ignores the key and answers with a shared secret, which is then kept instead.
    public func activate(code: String, deviceName: String? = nil) -> Result<DeviceCredentials, APIError> {
        let normalized = ActivationCode.normalize(code)
        guard ActivationCode.isWellFormed(normalized) else {
            return .failure(APIError(.badInput, detail: "an activation code is \(ActivationCode.length) letters"))
        }
        let keyPair = Ed25519.PrivateKey.generate()
        var response: ActivationAnswer?
        let result = perform("POST", API.Path.activate, policy: .onlyIfNotSent) { transport in
            transport.activate(code: normalized, deviceName: deviceName, publicKey: keyPair.publicKey).map { r in
                response = r
                return SignedTransport.Answer(status: 200, body: [], latencyMs: 0)
            }
        }
        switch result {
        case .failure(let f):
            log.write("activation failed: \(f)")
            return .failure(f.apiError)
        case .success:
            let creds: DeviceCredentials
            switch response {
            case .publicKey(let r)?:
                guard Signing.publicKey(hex: r.servicePublicKey) != nil else {
                    return .failure(APIError(.responseUnverified, detail: "the activation answer has no valid service key"))
                }
                creds = DeviceCredentials(deviceId: r.deviceId, privateKey: keyPair, servicePublicKey: r.servicePublicKey, store: r.store)
            case .secret(let r)?:
                log.write("the service did not take this terminal's public key (a cashierd from before public keys); "
                          + "signing with a shared secret until `cashier rotate-key`")
                creds = DeviceCredentials(deviceId: r.deviceId, deviceSecret: r.deviceSecret, store: r.store)
            case nil:
                return .failure(APIError(.internalError, detail: "no activation answer"))
            }
            do { try keystore.save(creds) } catch { return .failure(error) }
            lock.lock(); credentialsValue = creds; lock.unlock()
            log.write("activated as \(creds.deviceId) for store \(creds.store.storeId), signing with \(creds.scheme.rawValue)")
            // Numbers for the first sales, so that even the first one is a single call.
            refillOrderNumbers(count: numberStock)
            return .success(creds)
        }
    }

    // MARK: - Key rotation

    /// Replaces this terminal's key with a new Ed25519 key pair, without activating again; a terminal
    /// with a shared secret moves to a key pair, and the service deletes the secret.
    ///
    /// The new key is written to the keystore (beside the current one) before the request leaves, so there
    /// is never a moment with no key the service accepts. The request is signed with the current key; when
    /// the service confirms, the new key replaces it in the keystore. With no confirmation (the answer was
    /// lost, or could not be verified) the terminal asks which key the service holds (`settleRotation`),
    /// and if it cannot tell yet it keeps both keys and settles at its next start.
    public func rotateKey() -> Result<KeyRotation, APIError> {
        rotationLock.lock()
        defer { rotationLock.unlock() }
        guard var creds = credentials else { return .failure(APIError(.notActivated)) }
        if creds.pendingPrivateKey != nil {
            // An earlier rotation ended without an answer: it is settled, not started again.
            switch settlePendingKey() {
            case .inForce(let c): return .success(.recovered(c))
            case .refused(_, let e), .unknown(let e): return .failure(e)
            }
        }
        if creds.servicePublicKey == nil {
            // A terminal with a shared secret learns the service's public key first, in an answer signed with
            // that secret: the rotation's own answer may be lost, and it is the key that checks every answer
            // after it.
            switch perform("GET", API.Path.ping, policy: .safe).decoded(PingResponse.self) {
            case .failure(let f): return .failure(f.apiError)
            case .success(let ping):
                guard let key = ping.servicePublicKey, Signing.publicKey(hex: key) != nil else {
                    return .failure(APIError(.notFound, detail: "this service does not rotate keys (a cashierd from before public keys)"))
                }
                creds.servicePublicKey = key
            }
        }
        let next = Ed25519.PrivateKey.generate()
        creds.pendingPrivateKey = Hex.encode(next.seed)
        do { try keystore.save(creds) } catch { return .failure(error) }
        lock.lock(); credentialsValue = creds; lock.unlock()
        log.write("rotating this terminal's key to a new Ed25519 key pair; the new key is in the keystore beside the current one")

        let body = API.encode(RotateKeyRequest(publicKey: Hex.encode(next.publicKey)))
        switch perform("POST", API.Path.rotateKey, body: body, policy: .onlyIfNotSent).decoded(RotateKeyResponse.self) {
        case .success(let answer):
            guard let rotated = creds.withPendingKeyInForce(servicePublicKey: answer.servicePublicKey) else {
                return .failure(APIError(.internalError, detail: "no pending key"))
            }
            return adopt(rotated, because: "the service confirmed the rotation").map { .rotated($0) }
        case .failure(let failure) where Self.refusedForGood(failure) != nil:
            // The service read the request and will not take this key: it kept the current one.
            let refusal = Self.refusedForGood(failure)!
            dropPendingKey(creds, because: "the service refused the rotation: \(refusal)")
            return .failure(refusal)
        case .failure(let failure):
            log.write("the rotation got no verified answer (\(failure)); asking the service which key it holds")
            switch settlePendingKey() {
            case .inForce(let c): return .success(.recovered(c))
            case .refused(_, let e), .unknown(let e): return .failure(e)
            }
        }
    }

    /// Settles a rotation an earlier run left without an answer (see `rotateKey`); nil when none was pending.
    @discardableResult
    public func settleRotation() -> Result<DeviceCredentials, APIError>? {
        rotationLock.lock()
        defer { rotationLock.unlock() }
        guard credentials?.pendingPrivateKey != nil else { return nil }
        switch settlePendingKey() {
        case .inForce(let c), .refused(let c, _): return .success(c)
        case .unknown(let e): return .failure(e)
        }
    }

    /// What asking the service about a pending key found.
    private enum Settlement {
        /// The service holds the new key; it is the terminal's key now.
        case inForce(DeviceCredentials)
        /// The service holds the old key and refused (signed) to take the new one; the new one is dropped.
        case refused(DeviceCredentials, APIError)
        /// No domain gave a verified answer either way; both keys stay in the keystore.
        case unknown(APIError)
    }

    /// Finds out which key the service holds, one domain after the other (the active one first), with
    /// signed pings whose answers must verify: a ping signed with the new key that is answered means the
    /// rotation took effect; otherwise a ping signed with the current key that is answered means it did
    /// not, and the rotation (to the same new key) is sent again, so a copy of the first request that is
    /// still under way can do no harm. Unsigned refusals prove nothing and change nothing.
    /// Caller holds `rotationLock`.
    private func settlePendingKey() -> Settlement {
        guard let current = credentials, let pending = current.pendingPrivateKey,
              let withNew = current.withPendingKeyInForce(),
              let next = Hex.decode(pending).flatMap(Ed25519.PrivateKey.init(seed:)) else {
            return .unknown(APIError(.configInvalid, detail: "the keystore's pending key is not valid"))
        }
        guard withNew.answerKey != nil else {
            return .unknown(APIError(.configInvalid, detail: "the keystore holds a pending key but not the service's public key"))
        }
        let timeout = Int(configuration.probe.probeTimeoutMs)
        var last: CallFailure = .transport(.couldNotConnect("no service domain answered"))
        let first = prober.active ?? 0
        for domain in [first] + transports.indices.filter({ $0 != first }) {
            let transport = transports[domain]
            switch transport.call("GET", API.Path.ping, credentials: withNew, timeoutMs: timeout) {
            case .success:
                return Self.settled(adopt(withNew, because: "the service answers the new key"))
            case .failure(let f): last = f
            }
            guard case .success = transport.call("GET", API.Path.ping, credentials: current, timeoutMs: timeout) else { continue }
            log.write("the service still holds the current key; sending the rotation again")
            let body = API.encode(RotateKeyRequest(publicKey: Hex.encode(next.publicKey)))
            switch transport.call("POST", API.Path.rotateKey, body: body, credentials: current).decoded(RotateKeyResponse.self) {
            case .success(let answer):
                let rotated = current.withPendingKeyInForce(servicePublicKey: answer.servicePublicKey) ?? withNew
                return Self.settled(adopt(rotated, because: "the service confirmed the rotation"))
            case .failure(let f):
                if let refusal = Self.refusedForGood(f) {
                    return .refused(dropPendingKey(current, because: "the service refused the rotation: \(refusal)"), refusal)
                }
                last = f
            }
        }
        log.write("could not tell which key the service holds (\(last)); keeping both until the next start")
        // Unknown is "unreachable" for the terminal (try again later), unless the service stopped it for good.
        let code: ErrorCode = [.deviceRevoked, .deviceUnknown, .tlsUntrusted].contains(last.code) ? last.code : .serviceUnreachable
        return .unknown(APIError(code, detail: "the key rotation's outcome is not known yet: both keys are kept, and the "
                                 + "next `cashier rotate-key` (or any command) settles it (\(last))"))
    }

    /// The refusal of a rotation that proves the service kept the current key: signed (so it is the
    /// service's), and about the request itself (a key it will not take), so nothing was changed. Any other
    /// failure — unsigned, or a storage error that may have come after the change — proves nothing.
    private static func refusedForGood(_ failure: CallFailure) -> APIError? {
        guard case .service(let refusal) = failure, !SignedTransport.unsignedErrorCodes.contains(refusal.code),
              refusal.code == .invalidField || refusal.code == .malformedRequest else { return nil }
        return refusal
    }

    /// The service holds the new key: settled once the keystore says so too (if it could not be written,
    /// it still holds the new key as pending, and the next start settles again).
    private static func settled(_ adopted: Result<DeviceCredentials, APIError>) -> Settlement {
        switch adopted {
        case .success(let c): return .inForce(c)
        case .failure(let e): return .unknown(e)
        }
    }

    /// Makes `next` this terminal's credentials, in memory at once (the service holds its key) and in the keystore.
    private func adopt(_ next: DeviceCredentials, because reason: String) -> Result<DeviceCredentials, APIError> {
        lock.lock(); credentialsValue = next; lock.unlock()
        do { try keystore.save(next) } catch {
            // The keystore still holds the new key as pending: the next start settles it again.
            log.write("\(reason), but the keystore could not be written: \(error)")
            return .failure(error)
        }
        log.write("\(reason): this terminal signs with its new \(next.scheme.rawValue) key; the old key is refused from now on")
        return .success(next)
    }

    /// Forgets the pending key: the service holds the current one.
    @discardableResult
    private func dropPendingKey(_ current: DeviceCredentials, because reason: String) -> DeviceCredentials {
        var kept = current
        kept.pendingPrivateKey = nil
        lock.lock(); credentialsValue = kept; lock.unlock()
        try? keystore.save(kept)
        log.write("\(reason); keeping the current key")
        return kept
    }

    // MARK: - Orders

    public func order(_ number: OrderNumber) -> Result<OrderView, APIError> {
        perform("GET", API.Path.order(number), policy: .safe).decoded(OrderView.self).mapError(\.apiError)
    }

    /// One page of the store's orders, newest first.
    public func orders(limit: Int = 20, cursor: String? = nil) -> Result<OrderListResponse, APIError> {
        var query = [("limit", String(limit))]
        if let cursor { query.append(("cursor", cursor)) }
        return perform("GET", API.Path.orders, query: query, policy: .safe).decoded(OrderListResponse.self).mapError(\.apiError)
    }

    // MARK: - Staff

    /// Signs a member of the store's staff in with their PIN, checked by the service; the journal keeps who
    /// is signed in (never the PIN) until `signOut`, across restarts.
    public func signIn(pin: String) -> Result<StaffView, APIError> {
        staffWithPIN(pin).flatMap { staff in
            do { try journal.saveSignedInStaff(staff) } catch {
                return .failure(APIError(.configInvalid, detail: "the journal cannot keep who is signed in: \(error)"))
            }
            log.write("\(staff.role) \(staff.staffId) (\(staff.name)) signed in")
            return .success(staff)
        }
    }

    /// The member of staff whose PIN this is, as the service checks it (`POST /v1/staff/sign-in`).
    private func staffWithPIN(_ pin: String) -> Result<StaffView, APIError> {
        guard PINHash.isValidPIN(pin) else { return .failure(APIError(.badInput, detail: "a staff PIN is 4 to 12 digits")) }
        let body = API.encode(StaffSignInRequest(pin: pin))
        return perform("POST", API.Path.staffSignIn, body: body, policy: .safe).decoded(StaffSignInResponse.self)
            .map(\.staff).mapError(\.apiError)
    }

    /// Checks a supervisor's PIN for something that needs one at the till (a large discount), without
    /// changing who is signed in. Wrong PINs count against the terminal as for sign-in and refunds.
    public func checkSupervisor(pin: String) -> Result<StaffView, APIError> {
        staffWithPIN(pin).flatMap { staff in
            guard staff.isSupervisor else { return .failure(APIError(.pinNotSupervisor)) }
            log.write("supervisor \(staff.staffId) allowed a discount")
            return .success(staff)
        }
    }

    /// Signs out whoever is signed in; returns who that was.
    @discardableResult
    public func signOut() -> StaffView? {
        let was = try? journal.signedInStaff()
        try? journal.saveSignedInStaff(nil)
        if let was { log.write("\(was.staffId) signed out") }
        return was
    }

    // MARK: - Sales

    /// How many numbers for one-call sales the terminal keeps at hand, besides one per offline sale allowed.
    public static let orderNumberStock = 4
    /// The numbers kept at hand: enough for the next sales and for every offline cash sale allowed.
    var numberStock: Int { Self.orderNumberStock + configuration.offline.maxSales }
    /// A number is used no later than this after it was given (the service takes it for a day).
    static let orderNumberUseWithinMs: Int64 = 23 * 3_600 * 1_000

    /// Runs one sale to its end: one call with a number the terminal holds (or create and pay, when it
    /// holds none and gets none), poll, reverse past the deadline. Blocks.
    public func sell(_ request: CreateOrderRequest, paymentCode: String) -> SaleResult {
        let id = "S" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        var req = request
        if req.clientRef == nil { req.clientRef = id }
        stamp(&req.staffId, &req.shiftId)
        let numbers = configuration.oneCallSales ? numbersForSale() : []
        var machine = SaleStateMachine(request: req, paymentCode: paymentCode, orderNumbers: numbers, configuration: configuration.sale)
        let left = (try? journal.orderNumberCount(now: nowMs())) ?? 0
        machine.reserveNumbers = min(5, max(1, numberStock - left))
        let first = machine.start(nowMs: nowMs())
        return drive(id: id, machine: &machine, actions: first)
    }

    /// Up to three numbers for one sale, from the journal's stock; when it is empty, a few are asked for
    /// first (one round trip, once: every sale's answer brings new ones). None when even that fails: the
    /// sale then takes the two calls.
    func numbersForSale() -> [OrderNumber] {
        let now = nowMs()
        if let taken = try? journal.takeOrderNumbers(3, now: now), !taken.isEmpty { return taken }
        refillOrderNumbers(count: numberStock + 2)
        return (try? journal.takeOrderNumbers(3, now: nowMs())) ?? []
    }

    /// Asks the service for numbers and keeps them; failures are only logged (sales then take two calls).
    public func refillOrderNumbers(count: Int) {
        guard credentials != nil else { return }
        let body = API.encode(OrderNumbersRequest(count: min(20, max(1, count))))
        switch perform("POST", API.Path.orderNumbers, body: body, policy: .safe).decoded(OrderNumbersResponse.self) {
        case .success(let r):
            keepOrderNumbers(r.orderNumbers)
        case .failure(let f):
            log.write("no order numbers for one-call sales (\(f)); sales take two calls meanwhile")
        }
    }

    func keepOrderNumbers(_ numbers: [OrderNumber]) {
        guard !numbers.isEmpty else { return }
        do { try journal.addOrderNumbers(numbers, validUntil: nowMs() + Self.orderNumberUseWithinMs) } catch {
            log.write("journal write failed: \(error)")
        }
    }

    /// Drives every unfinished sale in the journal to a final state (a restart after a crash). Blocks.
    public func resumeUnfinishedSales() -> [SaleResult] {
        let pending = (try? journal.unfinishedSales()) ?? []
        return pending.map { entry in
            log.write("resuming sale \(entry.id)")
            emit(.resuming(id: entry.id))
            var machine = entry.sale
            let actions = machine.resume(nowMs: nowMs())
            return drive(id: entry.id, machine: &machine, actions: actions)
        }
    }

    private func orderNumber(of phase: SalePhase) -> OrderNumber? {
        switch phase {
        case .creating: return nil
        case let .paying(n), let .waitingForCustomer(n), let .querying(n), let .reversing(n, _): return n
        case .finished(let o):
            switch o {
            case .paid(let v): return v.orderNo
            case .needsAttention(let n, _): return n
            case .storedOffline(let v): return v.orderNo
            default: return nil
            }
        }
    }

    private func drive(id: String, machine: inout SaleStateMachine, actions: [SaleAction]) -> SaleResult {
        var queue = actions
        var orderNo: OrderNumber? = machine.lastOrder?.orderNo ?? orderNumber(of: machine.phase)
        // The machine always ends (deadline, then bounded reverse attempts); this only guards against a bug.
        var steps = 0
        while steps < 100_000 {
            steps += 1
            if queue.isEmpty {
                if case .finished(let outcome) = machine.phase {
                    var receipt: ReceiptPrinting?
                    if case .paid(let view) = outcome { receipt = writeReceipt(view) }
                    log.write("sale \(id) finished: \(outcome)")
                    return SaleResult(id: id, orderNo: orderNo, outcome: outcome, receipt: receipt)
                }
                guard let wake = machine.wakeAtMs else { break }
                let delay = wake - nowMs()
                if delay > 0 { Thread.sleep(forTimeInterval: Double(delay) / 1000) }
                queue = machine.handle(.timerFired, nowMs: max(nowMs(), wake))
                continue
            }
            let action = queue.removeFirst()
            switch action {
            case .persist(let snapshot):
                do { try journal.saveSale(id: id, snapshot) } catch { log.write("journal write failed: \(error)") }
            case .report(let phase):
                if let n = orderNumber(of: phase) { orderNo = n }
                let left = machine.payStartedAtMs.map { Int(max(0, ($0 + configuration.sale.payDeadlineMs - nowMs() + 999) / 1000)) }
                log.write("sale \(id): \(phase)")
                emit(.sale(id: id, phase: phase, secondsLeft: phase.isFinal ? nil : left))
            case .createOrder(let req):
                let r = perform("POST", API.Path.orders, body: API.encode(req), policy: .safe).decoded(OrderView.self)
                switch r {
                case .success(let v): orderNo = v.orderNo; queue += machine.handle(.orderCreated(v), nowMs: nowMs())
                case .failure(let f): queue += machine.handle(.createFailed(f.saleFailure), nowMs: nowMs())
                }
            case .sendSale(let req):
                // Idempotent by its number: safe to send again anywhere, signed anew each time.
                let r = perform("POST", API.Path.sales, body: API.encode(req), policy: .safeButSlow).decoded(SaleResponse.self)
                switch r {
                case .success(let answer):
                    keepOrderNumbers(answer.orderNumbers)
                    queue += machine.handle(.saleAnswered(answer.order), nowMs: nowMs())
                case .failure(let f): queue += machine.handle(.saleFailed(f.saleFailure), nowMs: nowMs())
                }
            case let .sendPay(n, req):
                let r = perform("POST", API.Path.pay(n), body: API.encode(req), policy: .onlyIfNotSent).decoded(OrderView.self)
                switch r {
                case .success(let v): queue += machine.handle(.payAnswered(v), nowMs: nowMs())
                case .failure(let f): queue += machine.handle(.payFailed(f.saleFailure), nowMs: nowMs())
                }
            case .sendQuery(let n):
                let r = perform("GET", API.Path.order(n), policy: .safe).decoded(OrderView.self)
                switch r {
                case .success(let v): queue += machine.handle(.queryAnswered(v), nowMs: nowMs())
                case .failure(let f): queue += machine.handle(.queryFailed(f.saleFailure), nowMs: nowMs())
                }
            case .sendReverse(let n):
                let r = perform("POST", API.Path.reverse(n), policy: .safe).decoded(OrderView.self)
                switch r {
                case .success(let v): queue += machine.handle(.reverseAnswered(v), nowMs: nowMs())
                case .failure(let f): queue += machine.handle(.reverseFailed(f.saleFailure), nowMs: nowMs())
                }
            case .scheduleTimer:
                break // `machine.wakeAtMs` holds the time; the loop sleeps until it when nothing else is queued.
            }
        }
        let outcome = SaleOutcome.needsAttention(orderNo, "the sale stopped in \(machine.phase)")
        return SaleResult(id: id, orderNo: orderNo, outcome: outcome)
    }

    /// Writes the receipt of a paid sale to the configured sink: appended to a file, or sent to a printer
    /// device as ESC/POS, with the order number as a barcode (and the drawer opened for cash). A failing
    /// printer is logged and answered, never a reason to fail the sale: printing never decides a payment.
    @discardableResult
    func writeReceipt(_ view: OrderView, copy: Bool = false, offline: Bool = false, openDrawer: Bool = false) -> ReceiptPrinting {
        let cashier = (try? journal.signedInStaff())??.name
        let text = Receipt.text(order: view, store: credentials?.store, copy: copy, offline: offline,
                                cashier: view.staffId == nil ? nil : cashier)
        let printed = writeToReceiptSink(text, barcode: view.orderNo, openDrawer: openDrawer, what: "receipt of \(view.orderNo)")
        if printed == .printed { try? journal.recordReceipt(view.orderNo) }
        return printed
    }

    /// Sends text to the receipt sink: appended to a file, or as ESC/POS to a device under /dev/.
    func writeToReceiptSink(_ text: String, barcode: OrderNumber?, openDrawer: Bool, what: String) -> ReceiptPrinting {
        guard let sink = configuration.receiptSink else { return .noPrinter }
        let format = configuration.receiptFormat ?? (sink.hasPrefix("/dev/") ? .escpos : .text)
        let bytes = format == .escpos ? Receipt.escpos(text, barcode: barcode, openDrawer: openDrawer) : Array((text + "\n").utf8)
        if !sink.hasPrefix("/dev/"), !FileManager.default.fileExists(atPath: sink) {
            _ = FileManager.default.createFile(atPath: sink, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        guard let h = FileHandle(forWritingAtPath: sink) else {
            log.write("\(what) not written: cannot open \(sink)")
            return .failed("cannot open \(sink)")
        }
        defer { try? h.close() }
        do {
            if !sink.hasPrefix("/dev/") { _ = try h.seekToEnd() }
            try h.write(contentsOf: Data(bytes))
        } catch {
            log.write("\(what) not written: \(error)")
            return .failed("\(sink): \(error.localizedDescription)")
        }
        return .printed
    }

    /// Prints a receipt of `order` again, marked COPY (the last receipt printed when nil), from the order
    /// as the service has it now (refunds included).
    public func reprintReceipt(order: OrderNumber?) -> Result<(OrderView, ReceiptPrinting), APIError> {
        guard configuration.receiptSink != nil else {
            return .failure(APIError(.badInput, detail: "no receipt printer: set receipt_sink in the configuration"))
        }
        let number: OrderNumber
        if let order { number = order } else {
            guard let last = try? journal.lastReceipt() else {
                return .failure(APIError(.badInput, detail: "no receipt has been printed on this terminal yet; give the order number"))
            }
            number = last
        }
        switch self.order(number) {
        case .failure(let e): return .failure(e)
        case .success(let view):
            guard view.status == .paid else {
                return .failure(APIError(.badInput, detail: "order \(number.digits) is \(view.status.rawValue); only paid orders have receipts"))
            }
            return .success((view, writeReceipt(view, copy: true)))
        }
    }

    /// The catalogue item with this code (from `catalog_path`), for checkout lines typed as item codes.
    public func catalogItem(code: String) -> OrderItem? { catalog[code] }

    /// Reads the catalogue file: a JSON array of `{"sku", "name", "unit_price"}`.
    static func loadCatalog(_ path: String?) throws(APIError) -> [String: OrderItem] {
        guard let path else { return [:] }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw APIError(.configInvalid, detail: "cannot read the catalogue \(path)")
        }
        struct Entry: Decodable { var sku: String; var name: String; var unitPrice: Int64 }
        let items: [Entry]
        do { items = try API.decode([Entry].self, from: Array(data)) } catch {
            throw APIError(.configInvalid, detail: "the catalogue \(path) is not a JSON list of {sku, name, unit_price}")
        }
        var out: [String: OrderItem] = [:]
        for item in items {
            guard !item.sku.isEmpty, (1...100).contains(item.name.count), item.unitPrice >= 0 else {
                throw APIError(.configInvalid, detail: "every catalogue item needs a sku, a name and a price of 0 or more")
            }
            out[item.sku] = OrderItem(sku: item.sku, name: item.name, quantity: 1, unitPrice: item.unitPrice)
        }
        return out
    }

    // MARK: - Refunds

    /// Refunds `amount` of a paid order. Without `refundRef`, an unconfirmed refund of the same order and
    /// amount in the journal lends its reference (so a retry never refunds twice), else a new one is made.
    /// Returns the reference used with the result. Blocks while retrying.
    public func refund(order: OrderNumber, amount: Int64, pin: String, refundRef: String? = nil)
        -> (ref: String, result: Result<RefundView, APIError>) {
        let ref = refundRef ?? ((try? journal.pendingRefundRef(order: order, amount: amount)) ?? nil)
            ?? "R" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
        var machine = RefundStateMachine(order: order, amount: amount, refundRef: ref, maxAttempts: configuration.refundAttempts,
                                         retryBaseMs: configuration.refundRetryBaseMs, retryCeilingMs: 30_000)
        if let saved = try? journal.refund(ref: ref), saved.order == order, saved.amount == amount,
           !saved.phase.isFinished {
            machine = saved
        }
        var queue = machine.start(nowMs: nowMs())
        var lastError: APIError?
        var steps = 0
        while steps < 10_000 {
            steps += 1
            if queue.isEmpty {
                if case .finished(let outcome) = machine.phase {
                    switch outcome {
                    case .refunded(let view): return (ref, .success(view))
                    case .refused(let e): return (ref, .failure(e))
                    case .needsAttention(let why):
                        return (ref, .failure(lastError ?? APIError(.serviceUnreachable, detail: why)))
                    }
                }
                guard let wake = machine.wakeAtMs else { break }
                let delay = wake - nowMs()
                if delay > 0 { Thread.sleep(forTimeInterval: Double(delay) / 1000) }
                queue = machine.handle(.timerFired, nowMs: max(nowMs(), wake))
                continue
            }
            switch queue.removeFirst() {
            case .persist(let snapshot):
                do { try journal.saveRefund(snapshot) } catch { log.write("journal write failed: \(error)") }
            case .report(let phase):
                log.write("refund \(ref): \(phase)")
                emit(.refund(ref: ref, phase: phase))
            case let .sendRefund(n, amount, refundRef):
                var request = RefundRequest(amount: amount, refundRef: refundRef, pin: pin)
                stamp(&request.staffId, &request.shiftId)
                let body = API.encode(request)
                switch perform("POST", API.Path.refunds(n), body: body, policy: .safe).decoded(RefundResponse.self) {
                case .success(let r): queue += machine.handle(.answered(r.refund), nowMs: nowMs())
                case .failure(let f):
                    lastError = f.apiError
                    queue += machine.handle(.failed(f.saleFailure), nowMs: nowMs())
                }
            case .scheduleTimer:
                break
            }
        }
        return (ref, .failure(APIError(.internalError, detail: "the refund stopped in \(machine.phase)")))
    }
}

extension RefundPhase {
    var isFinished: Bool { if case .finished = self { return true } else { return false } }
}

/// Lets the prober ask the engine for credentials without keeping it alive.
private final class WeakEngine: @unchecked Sendable {
    // @unchecked: set once during the engine's init, before any probe runs.
    weak var engine: CashierEngine?
}

/// What a key rotation came to.
public enum KeyRotation: Equatable, Sendable {
    /// The service confirmed: the new key is in force and the old one is refused from now on.
    case rotated(DeviceCredentials)
    /// The answer was lost, and the service was then found holding the new key: in force now.
    case recovered(DeviceCredentials)

    public var credentials: DeviceCredentials {
        switch self {
        case .rotated(let c), .recovered(let c): return c
        }
    }
}

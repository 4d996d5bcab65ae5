//! The catalogue of error codes: every stable code the API answers or a job fails with, its HTTP
//! status and what it means, in one place that the server, the workers, docs/api.md (checked by
//! `crates/config/tests/error_codes.rs`) and the studio (`GET /api/v1/errors`, `/static/errors.js`)
//! all read. Adding a code is one line in the table below, plus its row in docs/api.md.
//!
//! Codes are published: a code's string never changes and is never reused for another meaning.
//! Errors whose code is decided inside their own crate (the [`crate::ErrorCode`] types) may name
//! theirs here too; the server maps those by their own classification.

/// Builds [`Code`] and its lookup tables from one line per code: `Variant = "string", status,
/// "meaning";`. One line each so that two branches adding codes rarely touch the same lines.
macro_rules! catalogue {
    ($($variant:ident = $code:literal, $status:literal, $meaning:literal;)*) => {
        /// A stable error code. See the module documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                #[doc = $meaning]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in the table's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable string clients match on, such as `auth.required`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// The HTTP status the API answers this code with. A code that only names why a
            /// job failed carries the status it would have as an answer: 4xx when the job's
            /// input was at fault, 5xx when the fault was ours or a provider's.
            pub const fn status(self) -> u16 {
                match self {
                    $(Code::$variant => $status,)*
                }
            }

            /// One sentence for people: what the code means.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)*
                }
            }
        }
    };
}

catalogue! {
    AccountBanned = "account.banned", 403, "The account was banned by a moderator.";
    AccountEmailTaken = "account.email_taken", 409, "Another account uses that email address.";
    AccountEmailUnchanged = "account.email_unchanged", 422, "The new email address is the account's current one.";
    AccountInvalidDisplayName = "account.invalid_display_name", 422, "The display name is empty, too long or holds control characters.";
    AccountUsernameTaken = "account.username_taken", 409, "Another account has that username (ignoring case).";
    AdminInvalidAmount = "admin.invalid_amount", 422, "A credit amount outside 1 to 10,000,000.";
    AdminInvalidCreditKind = "admin.invalid_credit_kind", 422, "A credit change that is neither `grant` nor `refund`.";
    AdminInvalidRole = "admin.invalid_role", 422, "A role other than user, moderator or admin.";
    AdminJobFinished = "admin.job_finished", 409, "The job has ended already.";
    AdminJobNotFailed = "admin.job_not_failed", 409, "Only a failed job can be retried.";
    AdminReasonRequired = "admin.reason_required", 422, "A staff action needs a reason of at most 500 characters.";
    AdminRequired = "admin.required", 403, "Only an administrator may do this.";
    AdminSelfAction = "admin.self_action", 409, "An admin cannot change their own account from the console.";
    AudioInvalidSampleRate = "audio.invalid_sample_rate", 422, "A sample rate outside 8,000 to 192,000 Hz was asked for.";
    AudioNoAudioStream = "audio.no_audio_stream", 422, "The file has no audio stream.";
    AudioTooLarge = "audio.too_large", 413, "The audio file is larger than the limit.";
    AudioTooLong = "audio.too_long", 422, "The audio is longer than the limit.";
    AudioUnreadable = "audio.unreadable", 422, "The file could not be read as audio.";
    AudioUnsupportedFormat = "audio.unsupported_format", 415, "The file's format is not an accepted audio format.";
    AuthAgeRequired = "auth.age_required", 422, "Sign-up needs an age confirmation or a birth year.";
    AuthCodeAttemptsExhausted = "auth.code_attempts_exhausted", 400, "Too many wrong guesses of an emailed code; ask for a new one.";
    AuthCodeExpired = "auth.code_expired", 400, "The emailed code has expired; ask for a new one.";
    AuthCodeInvalid = "auth.code_invalid", 400, "The emailed code is wrong.";
    AuthCodeMalformed = "auth.code_malformed", 500, "A stored emailed code is malformed.";
    AuthCodeUsed = "auth.code_used", 400, "The emailed code has been used already.";
    AuthEmailUnverified = "auth.email_unverified", 403, "The email address is not verified yet.";
    AuthHashingFailed = "auth.hashing_failed", 500, "Password hashing failed.";
    AuthInvalidAgeStatement = "auth.invalid_age_statement", 422, "The birth year is not plausible.";
    AuthInvalidCredentials = "auth.invalid_credentials", 401, "The email address or password is wrong.";
    AuthInvalidEmail = "auth.invalid_email", 422, "Not an email address.";
    AuthInvalidTotpSecret = "auth.invalid_totp_secret", 500, "A stored authenticator secret cannot be read.";
    AuthInvalidUsername = "auth.invalid_username", 422, "A username must be 3 to 30 characters of a-z, 0-9 and `_`.";
    AuthMalformedHash = "auth.malformed_hash", 500, "A stored password hash is not a valid Argon2 string.";
    AuthPasswordTooLong = "auth.password_too_long", 422, "The password is longer than allowed.";
    AuthPoliciesRequired = "auth.policies_required", 422, "Sign-up needs the privacy notice and terms accepted.";
    AuthRandomFailed = "auth.random_failed", 500, "The server could not draw random bytes.";
    AuthRandomUnavailable = "auth.random_unavailable", 500, "The system's random number generator failed.";
    AuthRateLimited = "auth.rate_limited", 429, "Too many attempts; try again after the time in `Retry-After`.";
    AuthRequired = "auth.required", 401, "Sign in, or send an API token.";
    AuthReservedUsername = "auth.reserved_username", 422, "That username is reserved.";
    AuthSuspended = "auth.suspended", 403, "The account is suspended.";
    AuthTooYoung = "auth.too_young", 422, "The person is younger than the minimum age of the service.";
    AuthWeakPassword = "auth.weak_password", 422, "The password is too short or too common.";
    BatchEmpty = "batch.empty", 422, "A batch needs at least one script.";
    BatchInvalidScript = "batch.invalid_script", 422, "One script of the batch is refused (`index` names it, `cause` gives its own code); nothing was created or charged.";
    BatchInvalidSettings = "batch.invalid_settings", 422, "A batch's settings are not an object of preset settings (no script, media or recording).";
    BatchTooManyScripts = "batch.too_many_scripts", 422, "The batch has more scripts than the server's `[batches] max_scripts`; nothing was created.";
    BillingAccountDeleted = "billing.account_deleted", 410, "The account is deleted.";
    BillingAlreadyLifetime = "billing.already_lifetime", 409, "The account has the Lifetime plan already.";
    BillingItemNotForSale = "billing.item_not_for_sale", 422, "The item has no price at the payment processor.";
    BillingMalformedEvent = "billing.malformed_event", 400, "A payment processor's event cannot be read.";
    BillingNoSubscription = "billing.no_subscription", 409, "There is no subscription to manage.";
    BillingPaymentNotYetRecorded = "billing.payment_not_yet_recorded", 409, "A refund or dispute arrived before its payment was recorded; the processor's retry applies it.";
    BillingProcessorOff = "billing.processor_off", 404, "That payment processor is not configured here.";
    BillingProcessorUnavailable = "billing.processor_unavailable", 503, "The payment processor cannot be reached; nothing was charged.";
    BillingPurchasesOff = "billing.purchases_off", 409, "Purchases are off on this server.";
    BillingSignatureMalformed = "billing.signature_malformed", 400, "A payment processor's webhook signature header cannot be read.";
    BillingSignatureMismatch = "billing.signature_mismatch", 400, "No signature on a payment processor's webhook matches its body.";
    BillingSignatureMissing = "billing.signature_missing", 400, "A payment processor's webhook has no signature header.";
    BillingSignatureStale = "billing.signature_stale", 400, "A payment processor's webhook timestamp is outside the tolerance.";
    BillingUnknownItem = "billing.unknown_item", 422, "No plan or credit pack of that name is sold here.";
    CaptionsFontMissing = "captions.font_missing", 422, "The caption style names a font that is not installed on this server.";
    ClipDecodeFailed = "clip.decode_failed", 422, "Decoding a video clip failed.";
    ClipNoVideoStream = "clip.no_video_stream", 422, "The file has no video stream.";
    ClipTooLarge = "clip.too_large", 413, "The clip is larger than the limit.";
    ClipTooLong = "clip.too_long", 422, "The clip is longer than the limit.";
    ClipTooManyFrames = "clip.too_many_frames", 422, "The clip has more frames than the limit.";
    ClipUnreadable = "clip.unreadable", 422, "The video could not be read.";
    ComposeFinished = "compose.finished", 500, "The compositor was asked for a frame after the last one.";
    ComposeInternal = "compose.internal", 500, "An internal compositor error.";
    ComposeInvalidSettings = "compose.invalid_settings", 422, "The composition settings are invalid.";
    ComposeNoScenes = "compose.no_scenes", 422, "There are no scenes to compose.";
    ComposeTooLong = "compose.too_long", 422, "The video would be longer than the limit.";
    ConfigBadKey = "config.bad_key", 500, "An environment variable names no setting.";
    ConfigFileUnreadable = "config.file_unreadable", 500, "The configuration file cannot be read.";
    ConfigInvalid = "config.invalid", 500, "The configuration is invalid; each problem is listed.";
    ConfigInvalidValue = "config.invalid_value", 500, "A setting has a value it cannot take.";
    ConfigSyntax = "config.syntax", 500, "The configuration file is not valid TOML.";
    ConfigUnknownKey = "config.unknown_key", 500, "The configuration names a setting that does not exist.";
    ConsentRequired = "consent.required", 409, "The owner has not consented to sending data to this provider; nothing was sent.";
    CreditsInsufficient = "credits.insufficient", 402, "The job costs more credits than the balance holds; nothing was queued or charged.";
    CreditsInvalid = "credits.invalid", 400, "A ledger change that is not allowed (a negative grant, a spend written by hand).";
    CreditsInvalidAmount = "credits.invalid_amount", 422, "A credit amount that is not a positive number.";
    CreditsInvalidKind = "credits.invalid_kind", 422, "A credit change that is neither `grant` nor `refund`.";
    CreditsReasonRequired = "credits.reason_required", 422, "A credit change needs a reason of 1 to 500 characters.";
    CryptAuthenticationFailed = "crypt.authentication_failed", 500, "A stored object failed authentication: it was modified, truncated or copied under another key.";
    CryptFormat = "crypt.format", 500, "A stored object is not in the sealed format, or its header or size is damaged.";
    CryptKeyFile = "crypt.key_file", 500, "An operator key file cannot be read, created or parsed.";
    CryptKeyFileMissing = "crypt.key_file_missing", 500, "The operator key file is missing although data keys are wrapped under it.";
    CryptKeyUnavailable = "crypt.key_unavailable", 500, "The object was sealed under a data key its owner no longer has.";
    CryptOperatorKeyUnknown = "crypt.operator_key_unknown", 500, "A data key is wrapped under an operator key that is not configured.";
    CryptTooLarge = "crypt.too_large", 500, "The object is larger than the sealed format can hold.";
    CryptUnknownOwner = "crypt.unknown_owner", 500, "A data key was asked for a user who does not exist.";
    CryptUnwrapFailed = "crypt.unwrap_failed", 500, "A wrapped data key did not authenticate under its operator key.";
    CsrfCrossOrigin = "csrf.cross_origin", 403, "A cross-site request that changes something was refused.";
    EncodeBadCrf = "encode.bad_crf", 422, "The quality (crf) must be 0 to 51.";
    EncodeBadLookahead = "encode.bad_lookahead", 500, "The x264 lookahead must be 0 to 250 frames.";
    EncodeBadThreads = "encode.bad_threads", 500, "The x264 thread count must be 0 (automatic) to 64.";
    EncodePipe = "encode.pipe", 500, "The encoder stopped taking frames.";
    EncodeUnknownPreset = "encode.unknown_preset", 500, "The configured x264 preset does not exist.";
    EngineOutputTooLarge = "engine.output_too_large", 500, "An external program wrote more output than allowed.";
    EngineProbeOutput = "engine.probe_output", 500, "ffprobe answered something unexpected.";
    EngineProcessFailed = "engine.process_failed", 500, "An external program (ffmpeg, espeak-ng, Piper) failed.";
    EngineProcessIo = "engine.process_io", 500, "An external program could not be started.";
    EngineTimeout = "engine.timeout", 500, "An external program ran longer than allowed and was stopped.";
    EngineToolMissing = "engine.tool_missing", 500, "An external program is not installed; `scripts/setup` installs it.";
    ExportArchive = "export.archive", 500, "The export archive could not be written.";
    ExportExpired = "export.expired", 410, "The export's download link has expired.";
    ExportFailed = "export.failed", 409, "The export archive could not be built.";
    ExportInProgress = "export.in_progress", 409, "Another export of the account is being built.";
    ExportIo = "export.io", 500, "The export archive could not be written to disk.";
    ExportNotReady = "export.not_ready", 409, "The export archive is still being built.";
    ExportTaskFailed = "export.task_failed", 500, "The task writing the export archive stopped.";
    GalleryDisabled = "gallery.disabled", 403, "The public gallery is turned off on this server.";
    GalleryPageInvalid = "gallery.page_invalid", 400, "A gallery page number out of range.";
    GallerySortInvalid = "gallery.sort_invalid", 400, "A gallery order other than `newest` or `most_viewed`.";
    GalleryTakenDown = "gallery.taken_down", 409, "A moderator took the work down; it cannot be published again.";
    GalleryTitleRequired = "gallery.title_required", 422, "A published work needs a title.";
    IdempotencyMismatch = "idempotency.mismatch", 422, "The Idempotency-Key was used with a different body.";
    ImageCorrupt = "image.corrupt", 422, "The image is damaged or truncated.";
    ImageIo = "image.io", 500, "The image could not be read.";
    ImageTooLarge = "image.too_large", 413, "The image file is larger than the limit.";
    ImageTooManyPixels = "image.too_many_pixels", 422, "The image has more pixels than the limit.";
    ImageUnsupportedFormat = "image.unsupported_format", 415, "The file is not a supported image (JPEG, PNG, WebP, GIF or BMP).";
    JobAlreadyFinished = "job.already_finished", 409, "The job has already ended.";
    JobBusy = "job.busy", 409, "The job is running, so it cannot take a new revision until it ends or is cancelled.";
    JobInvalidIdempotencyKey = "job.invalid_idempotency_key", 400, "An Idempotency-Key that is not 1 to 200 visible ASCII characters.";
    JobInvalidParams = "job.invalid_params", 422, "A job failed: its parameters are not a render spec.";
    JobLeaseLost = "job.lease_lost", 500, "The worker no longer holds the job's lease: it was taken over, cancelled or finished.";
    JobMediaNotVisual = "job.media_not_visual", 422, "An audio upload named in `media`, which takes images and videos.";
    JobNotFinished = "job.not_finished", 409, "Only a finished creation can be shared or published.";
    JobOutputMissing = "job.output_missing", 500, "A job failed: an output stored by an earlier attempt has gone missing.";
    JobOutputNotReady = "job.output_not_ready", 404, "The revision has no such output (yet).";
    JobRevisionIsCurrent = "job.revision_is_current", 409, "The revision is the job's current one: delete the job instead.";
    JobTitleInvalid = "job.title_invalid", 422, "A title with control characters.";
    JobTitleTooLong = "job.title_too_long", 422, "A title longer than allowed.";
    JobUnknownUpload = "job.unknown_upload", 422, "No upload with that id exists among the caller's.";
    JobUploadNotFound = "job.upload_not_found", 422, "A job failed: an upload it names no longer exists.";
    JobVoiceNotAudio = "job.voice_not_audio", 422, "An image upload named as `voice`, which takes a recording.";
    JobWrongUploadKind = "job.wrong_upload_kind", 422, "A job failed: an upload of the wrong kind in a slot.";
    MailBuild = "mail.build", 500, "The message could not be built.";
    MailInvalidAddress = "mail.invalid_address", 422, "Not a valid email address.";
    MailInvalidHeader = "mail.invalid_header", 500, "A mail header is invalid.";
    MailOutboxIo = "mail.outbox_io", 500, "The mail outbox folder could not be read or written.";
    MailRandomUnavailable = "mail.random_unavailable", 500, "The random number generator failed while building a message.";
    MailSmtp = "mail.smtp", 500, "SMTP delivery failed.";
    MailSmtpNotConfigured = "mail.smtp_not_configured", 500, "SMTP is chosen but no host is configured.";
    MailUnparseable = "mail.unparseable", 500, "A message in the outbox is not a parseable RFC 5322 message.";
    MediaBackend = "media.backend", 500, "The media storage failed.";
    MediaConfig = "media.config", 500, "The storage configuration cannot be used (missing bucket, unreadable folder).";
    MediaInvalidKey = "media.invalid_key", 500, "An object key is empty, too long, or has characters outside `[A-Za-z0-9._/-]`.";
    MediaNotFound = "media.not_found", 404, "The stored object does not exist.";
    MediaRangeNotSatisfiable = "media.range_not_satisfiable", 416, "The requested byte range lies outside the object.";
    MediaSource = "media.source", 500, "Reading the source of an upload to storage failed.";
    MediaTooLarge = "media.too_large", 413, "A media file is larger than the limit.";
    MediaUnreadable = "media.unreadable", 422, "A media file could not be read.";
    MediaUnsupportedFormat = "media.unsupported_format", 415, "Not an image or video the engine can read.";
    MetricsUnauthorized = "metrics.unauthorized", 401, "The metrics token is missing or wrong.";
    MixIo = "mix.io", 500, "Writing the audio mix failed.";
    MixReport = "mix.report", 500, "The loudness measurement could not be read.";
    ModerationCannotBanStaff = "moderation.cannot_ban_staff", 409, "Moderators and admins are not banned from the queue.";
    ModerationDecisionInvalid = "moderation.decision_invalid", 422, "A decision other than `taken_down` or `rejected`.";
    ModerationEmailInvalid = "moderation.email_invalid", 422, "The requester's email is not an email address.";
    ModerationImageInvalid = "moderation.image_invalid", 422, "The image cannot be decoded for the image check.";
    ModerationImageModelInvalid = "moderation.image_model_invalid", 500, "The configured image classifier model is not an ONNX model this server can run.";
    ModerationImageModelLabels = "moderation.image_model_labels", 500, "The image classifier's scores do not match its configured labels.";
    ModerationImageModelUnreadable = "moderation.image_model_unreadable", 500, "The configured image classifier model cannot be read.";
    ModerationLegalWithoutWork = "moderation.legal_without_work", 422, "A legal request that names no work to take down.";
    ModerationReasonRequired = "moderation.reason_required", 422, "A required reason is missing.";
    ModerationRefused = "moderation.refused", 422, "The request breaks this server's content rules; nothing was queued or charged.";
    ModerationRulesCategoryName = "moderation.rules_category_name", 500, "A moderation category name is not lower-case letters, digits and underscores.";
    ModerationRulesEmptyCategory = "moderation.rules_empty_category", 500, "A category of the operator's moderation rules has no terms or patterns.";
    ModerationRulesPattern = "moderation.rules_pattern", 500, "A pattern in the operator's moderation rules does not compile; the shipped rules apply.";
    ModerationRulesSyntax = "moderation.rules_syntax", 500, "The operator's moderation rules file is not valid TOML; the shipped rules apply.";
    ModerationRulesUnreadable = "moderation.rules_unreadable", 500, "The operator's moderation rules file cannot be read; the shipped rules apply.";
    ModerationTextInvalid = "moderation.text_invalid", 422, "A text with control characters.";
    ModerationTextTooLong = "moderation.text_too_long", 422, "A text longer than allowed.";
    ModerationImageRefused = "moderation.image_refused", 422, "An image (an upload, a frame of an uploaded video or of a generated clip) breaks this server's content rules; nothing is charged.";
    ModerationImageCheckFailed = "moderation.image_check_failed", 500, "The image classifier could not check an image; the job is retried.";
    MusicIo = "music.io", 500, "The music could not be read or written.";
    MusicNoLibrary = "music.no_library", 422, "This server has no music library.";
    MusicNotAudio = "music.not_audio", 422, "The music upload is not audio.";
    MusicTooLarge = "music.too_large", 413, "The music file is larger than the limit.";
    MusicTooLong = "music.too_long", 422, "The music lasts longer than the limit.";
    MusicUnknownTrack = "music.unknown_track", 422, "No such track in this server's music library.";
    MusicUnplayable = "music.unplayable", 422, "The library track cannot be played.";
    NotFound = "not_found", 404, "No such thing, or it belongs to someone else (the two are indistinguishable).";
    OidcAccountUnavailable = "oidc.account_unavailable", 403, "The account for the provider's address has been deleted.";
    OidcCodeRefused = "oidc.code_refused", 400, "The identity provider refused the authorization code.";
    OidcEmailUnverified = "oidc.email_unverified", 403, "The identity provider gave no verified email address.";
    OidcIdentityTaken = "oidc.identity_taken", 409, "The provider account is linked to another account.";
    OidcLastSignInMethod = "oidc.last_sign_in_method", 409, "Unlinking would leave no way into the account.";
    OidcNoPending = "oidc.no_pending", 400, "No sign-in with an identity provider waits in this browser.";
    OidcNonceMismatch = "oidc.nonce_mismatch", 400, "The ID token was not issued for this sign-in.";
    OidcProviderError = "oidc.provider_error", 400, "The identity provider did not sign the person in.";
    OidcProviderUnreachable = "oidc.provider_unreachable", 502, "The identity provider could not be used.";
    OidcSignatureInvalid = "oidc.signature_invalid", 400, "The ID token is not signed by the provider's keys.";
    OidcStateInvalid = "oidc.state_invalid", 400, "A forged, replayed, expired or foreign sign-in.";
    OidcTokenExpired = "oidc.token_expired", 400, "The provider's ID token has expired.";
    OidcTokenInvalid = "oidc.token_invalid", 400, "The ID token's issuer, audience or claims are not the provider's.";
    PlanConcurrentJobs = "plan.concurrent_jobs", 403, "The owner has as many jobs queued or running as their plan allows; nothing was queued.";
    PlanMaxResolution = "plan.max_resolution", 403, "The resolution is above what the owner's plan allows.";
    PlanMaxVideoSeconds = "plan.max_video_seconds", 403, "The video is longer than the owner's plan allows.";
    PlanProviderNotAllowed = "plan.provider_not_allowed", 403, "The owner's plan does not include this provider or model.";
    PolicyAcceptanceRequired = "policy.acceptance_required", 409, "A changed policy must be accepted before the next job.";
    PolicyNotCurrent = "policy.not_current", 409, "That policy version was replaced since.";
    PolicyUnknown = "policy.unknown", 404, "No such policy version was published.";
    PolicyVersionExists = "policy.version_exists", 409, "That version of that policy document was published before; versions are never edited.";
    PresetInvalidName = "preset.invalid_name", 422, "A preset's name is empty, longer than 100 characters or holds control characters.";
    PresetInvalidSettings = "preset.invalid_settings", 422, "A preset's settings are not an object of the settings a preset holds (no script, media or recording).";
    PresetReadOnly = "preset.read_only", 409, "The operator's templates are read-only; save a preset of your own from one instead.";
    PresetTooMany = "preset.too_many", 409, "The account keeps the most presets it may; delete one first.";
    PresetUnknown = "preset.unknown", 422, "The request names a preset that is neither yours nor a template.";
    PreviewInvalidTime = "preview.invalid_time", 422, "The preview time must be between 0 and 60 seconds.";
    PreviewTextTooLong = "preview.text_too_long", 422, "The preview text is longer than 500 characters.";
    ProcessingPaused = "processing.paused", 409, "The account paused processing.";
    ProviderCanceled = "provider.canceled", 502, "A job failed: the provider cancelled the request.";
    ProviderConfig = "provider.config", 500, "A provider's configuration is unusable.";
    ProviderFailed = "provider.failed", 502, "A job failed: the provider reported the request failed.";
    ProviderForbiddenHost = "provider.forbidden_host", 502, "A job failed: the provider pointed at a host it may not use.";
    ProviderInsufficientCredits = "provider.insufficient_credits", 502, "A job failed: the operator's account at the provider ran out of credit.";
    ProviderIo = "provider.io", 500, "A job failed: a provider's result could not be written.";
    ProviderMalformed = "provider.malformed", 502, "A job failed: the provider answered something unreadable.";
    ProviderNeedsImage = "provider.needs_image", 422, "The model makes video from an image and the job brings none.";
    ProviderNetwork = "provider.network", 502, "A job failed: the provider could not be reached.";
    ProviderNotConfigured = "provider.not_configured", 422, "The provider is not configured on this server.";
    ProviderRateLimited = "provider.rate_limited", 502, "A job failed: the provider limited our requests.";
    ProviderRefused = "provider.refused", 422, "A job failed: the provider refused the prompt or image; it is not sent again.";
    ProviderRejected = "provider.rejected", 422, "A job failed: the provider rejected the request's input.";
    ProviderResultExpired = "provider.result_expired", 502, "A job failed: the provider's result expired before it was downloaded.";
    ProviderTimeout = "provider.timeout", 502, "A job failed: the provider did not answer in time.";
    ProviderTooLarge = "provider.too_large", 502, "A job failed: the provider's result is larger than allowed.";
    ProviderUnauthorized = "provider.unauthorized", 502, "A job failed: the provider refused the operator's key.";
    ProviderUnavailable = "provider.unavailable", 502, "A job failed: the provider is unavailable.";
    ProviderUnknownModel = "provider.unknown_model", 422, "The provider has no such model.";
    ProviderUnsupported = "provider.unsupported", 422, "A job failed: the model cannot serve the request.";
    ProviderUnsupportedAspect = "provider.unsupported_aspect", 422, "The model cannot make that frame shape.";
    ProviderUnsupportedResolution = "provider.unsupported_resolution", 422, "The model cannot make that resolution.";
    RateLimited = "rate_limited", 429, "Too many attempts; retry after `Retry-After` seconds.";
    RenderCancelled = "render.cancelled", 500, "The render was stopped before it finished.";
    RenderOutputIo = "render.output_io", 500, "Writing the rendered video failed.";
    RenderTooLong = "render.too_long", 422, "The video would be longer than the limit.";
    ReportReasonInvalid = "report.reason_invalid", 422, "An unknown report reason.";
    ReportTargetInvalid = "report.target_invalid", 422, "A report must name exactly one of a job and a share link.";
    RequestInvalidFields = "request.invalid_fields", 422, "The JSON body's fields are missing or of the wrong type.";
    RequestInvalidJson = "request.invalid_json", 400, "The body is not JSON.";
    RequestInvalidQuery = "request.invalid_query", 400, "The query string is not valid.";
    RequestNotJson = "request.not_json", 415, "The body is not sent as `application/json`.";
    RequestTooLarge = "request.too_large", 413, "The body is larger than allowed.";
    RightsClosed = "rights.closed", 409, "The rights request was closed already.";
    RightsIdentityUnchecked = "rights.identity_unchecked", 409, "A rights request cannot be fulfilled before the requester's identity was checked.";
    RightsNotFound = "rights.not_found", 404, "No rights request has this id.";
    ScriptEmpty = "script.empty", 422, "The script is empty.";
    ScriptNoWords = "script.no_words", 422, "The script has no words to narrate or show.";
    ScriptScenesInvalid = "script.scenes_invalid", 422, "Scenes must be between 1 and 12.";
    ScriptTooLong = "script.too_long", 422, "The script is longer than the word limit.";
    ScriptTopicInvalid = "script.topic_invalid", 422, "A topic must be 3 to 500 characters.";
    ServerTaskFailed = "server.task_failed", 500, "A server task did not complete.";
    ServiceUnavailable = "service.unavailable", 503, "The database cannot be reached; retry after `Retry-After` seconds.";
    SessionRequired = "session.required", 409, "This needs a signed-in session, not an API token.";
    ShareDisabled = "share.disabled", 403, "Share links are turned off on this server.";
    ShareExpiryInvalid = "share.expiry_invalid", 422, "A share link's lifetime out of range.";
    ShareExpiryTooLong = "share.expiry_too_long", 422, "A share link's lifetime longer than this server allows.";
    ShareRevisionNotFinished = "share.revision_not_finished", 422, "That revision does not exist or has not finished.";
    SpecInvalid = "spec.invalid", 422, "The render spec is not valid.";
    SpecInvalidCaptionColour = "spec.invalid_caption_colour", 422, "A caption colour is not `#rrggbb`.";
    SpecInvalidCaptionFont = "spec.invalid_caption_font", 422, "Not a valid caption font name.";
    SpecInvalidCaptionOutline = "spec.invalid_caption_outline", 422, "The caption outline width must be between 0 and 300 (% of the default).";
    SpecInvalidCaptionSize = "spec.invalid_caption_size", 422, "The caption size must be between 50 and 200 (% of the default).";
    SpecInvalidCaptionWords = "spec.invalid_caption_words", 422, "Caption words per line must be between 1 and 12.";
    SpecInvalidFps = "spec.invalid_fps", 422, "The frame rate must be 24, 25 or 30.";
    SpecInvalidModel = "spec.invalid_model", 422, "Not a valid provider or model name.";
    SpecInvalidMusic = "spec.invalid_music", 422, "`music` must name an upload or a library track (`library:<id>`).";
    SpecInvalidMusicLevel = "spec.invalid_music_level", 422, "The music level must be between -40 and 0 dB.";
    SpecInvalidPitch = "spec.invalid_pitch", 422, "The pitch must be between 0 and 99.";
    SpecInvalidRate = "spec.invalid_rate", 422, "The speech rate must be between 80 and 450 words per minute.";
    SpecInvalidVoice = "spec.invalid_voice", 422, "Not a valid voice name.";
    SpecNotAnObject = "spec.not_an_object", 422, "The render spec is not a JSON object.";
    SpecPromptTooLong = "spec.prompt_too_long", 422, "A prompt is longer than the limit.";
    SpecSerialise = "spec.serialise", 500, "The render spec could not be stored.";
    SpecTooManyMedia = "spec.too_many_media", 422, "Too many media files.";
    SpecTooManyPrompts = "spec.too_many_prompts", 422, "Too many scene prompts.";
    SpeechEngineFailed = "speech.engine_failed", 500, "The speech engine failed.";
    SpeechEngineMissing = "speech.engine_missing", 500, "The speech engine is not installed.";
    SpeechInvalidSettings = "speech.invalid_settings", 422, "The speech settings are invalid.";
    SpeechLanguageUnsupported = "speech.language_unsupported", 422, "No installed voice speaks the script's language.";
    SpeechNothingToSay = "speech.nothing_to_say", 422, "The text has no words that can be spoken.";
    SpeechUnknownVoice = "speech.unknown_voice", 422, "The speech engine has no such voice.";
    StaffStepUpRequired = "staff.step_up_required", 403, "Staff actions need a fresh TOTP code in this browser session.";
    StaffTotpRequired = "staff.totp_required", 403, "Staff must enrol a TOTP authenticator first.";
    StockIo = "stock.io", 500, "A stock or library file could not be read or written.";
    StockLibraryInvalid = "stock.library_invalid", 500, "The operator's media library or one of its entries is broken.";
    StockNoResults = "stock.no_results", 422, "The stock or library search found nothing for the scene.";
    StockNoTerms = "stock.no_terms", 422, "The scene's text has no words to search pictures with.";
    StockSourceUnavailable = "stock.source_unavailable", 422, "That picture source is not configured on this server (no media library, or no key for the stock provider).";
    StockTooLarge = "stock.too_large", 422, "The stock file is larger than this server's download limit; nothing was kept.";
    StockTooLong = "stock.too_long", 422, "The stock clip is longer than this server's limit; nothing was kept.";
    StoreCorrupt = "store.corrupt", 500, "A stored document or value could not be read back.";
    StoreDatabase = "store.database", 500, "A database failure (connection, I/O, an unexpected constraint).";
    StoreMigrateFailed = "store.migrate_failed", 500, "Applying the embedded migrations failed.";
    StoreUnsupportedUrl = "store.unsupported_url", 500, "The database URL names neither SQLite nor PostgreSQL, or cannot be parsed.";
    StoryboardEmpty = "storyboard.empty", 422, "A storyboard needs at least one scene.";
    StoryboardInvalid = "storyboard.invalid", 422, "The storyboard is not a list of scenes in the documented form.";
    StoryboardNoVisual = "storyboard.no_visual", 422, "A scene has no visual (an upload, a title card or a prompt).";
    StoryboardNone = "storyboard.none", 404, "The job (or that revision) was submitted without a storyboard.";
    StoryboardPreconditionRequired = "storyboard.precondition_required", 428, "A storyboard is replaced only with `If-Match` naming the version it was edited from.";
    StoryboardPromptNeedsProvider = "storyboard.prompt_needs_provider", 422, "A scene asks for a generated picture, but the job names no provider model.";
    StoryboardRendered = "storyboard.rendered", 409, "The storyboard has been rendered; it can no longer be edited.";
    StoryboardSceneText = "storyboard.scene_text", 422, "A scene's text is empty, has no words to speak, or is longer than the limit.";
    StoryboardStale = "storyboard.stale", 412, "The storyboard changed since that version was read (another tab or client saved it); nothing was changed.";
    StoryboardTooManyScenes = "storyboard.too_many_scenes", 422, "A storyboard has more scenes than allowed.";
    StoryboardUnknownPick = "storyboard.unknown_pick", 422, "A scene names a picture no search offered for this storyboard (stale, made up, or another user's); nothing was changed.";
    TextFontInvalid = "text.font_invalid", 500, "A font file could not be parsed.";
    TextFontMissing = "text.font_missing", 500, "A font the captions need is not installed; the message names its Debian package.";
    TokenInvalidName = "token.invalid_name", 422, "An API token needs a name of 1 to 100 characters.";
    TokenSessionRequired = "token.session_required", 403, "API tokens are created with a signed-in session, not another token.";
    TotpAlreadyEnabled = "totp.already_enabled", 409, "An authenticator is already enrolled.";
    TotpInvalidCode = "totp.invalid_code", 422, "That code is not the one the authenticator shows now.";
    TotpInvalidRecoveryCode = "totp.invalid_recovery_code", 422, "That recovery code is wrong or was used already.";
    TotpKeyUnavailable = "totp.key_unavailable", 500, "The key that seals TOTP secrets is unavailable.";
    TotpNotEnrolled = "totp.not_enrolled", 409, "No authenticator is enrolled.";
    TotpNotEnrolling = "totp.not_enrolling", 409, "No enrolment was started.";
    TotpQrFailed = "totp.qr_failed", 500, "The enrolment QR code could not be drawn.";
    TotpRateLimited = "totp.rate_limited", 429, "Too many TOTP attempts; retry after `Retry-After` seconds.";
    TotpReplayed = "totp.replayed", 422, "That code was used already.";
    TotpSecretUnreadable = "totp.secret_unreadable", 500, "The stored TOTP secret cannot be read.";
    TotpSessionRequired = "totp.session_required", 403, "Step-up belongs to a browser session, not an API token.";
    UploadDecodePermit = "upload.decode_permit", 500, "No decoding slot could be taken for the upload.";
    UploadEmpty = "upload.empty", 422, "The file is empty.";
    UploadMalformed = "upload.malformed", 400, "The multipart form cannot be read.";
    UploadNoFile = "upload.no_file", 400, "The form has no `file` field.";
    UploadNoStreams = "upload.no_streams", 422, "The file holds no audio or video stream.";
    UploadNotMultipart = "upload.not_multipart", 415, "The body is not `multipart/form-data`.";
    UploadQuotaExceeded = "upload.quota_exceeded", 413, "The file would take the caller past their storage quota.";
    UploadRateLimited = "upload.rate_limited", 429, "Too many uploads; retry after `Retry-After` seconds.";
    UploadSpool = "upload.spool", 500, "The upload could not be written to a temporary file.";
    UploadTooLarge = "upload.too_large", 413, "The file is larger than the limit.";
    UploadTooLong = "upload.too_long", 422, "The recording lasts longer than the limit.";
    UploadTooManyFiles = "upload.too_many_files", 400, "Send exactly one file per upload.";
    UploadTooManyFrames = "upload.too_many_frames", 422, "The clip has more frames than the limit.";
    UploadUnknownDuration = "upload.unknown_duration", 422, "The file's duration cannot be read.";
    UploadUnsupportedType = "upload.unsupported_type", 415, "Not a supported image, audio or video file.";
    UserNotFound = "user.not_found", 404, "No such user (by email or id).";
    VoiceMismatch = "voice.mismatch", 422, "The recording does not match the script well enough to time its words.";
    VoiceNoInstructions = "voice.no_instructions", 422, "The voice takes no instructions.";
    VoiceNoSpeech = "voice.no_speech", 422, "The recording contains no speech.";
    VoiceSample = "voice.sample", 500, "The voice sample could not be made.";
    VoiceSampleIo = "voice.sample_io", 500, "The voice sample could not be read or written.";
    VoiceUnknown = "voice.unknown", 422, "No such voice on this server (404 when the voice is the addressed resource).";
    VoiceUnusable = "voice.unusable", 422, "A Piper voice of the configured folder that cannot be used (a corrupt model, an unreadable config); the message says why.";
    WebRender = "web.render", 500, "A page could not be rendered.";
    WebhookBadKeys = "webhook.bad_keys", 500, "The provider's webhook key set is unusable.";
    WebhookBadSignature = "webhook.bad_signature", 401, "No signature on the webhook matches.";
    WebhookInvalidUrl = "webhook.invalid_url", 422, "A webhook endpoint address that is not an absolute https URL on the public internet, or carries a user name or password.";
    WebhookKey = "webhook.key", 500, "The key that seals webhook signing secrets is unavailable.";
    WebhookMalformed = "webhook.malformed", 400, "A provider's webhook body cannot be read.";
    WebhookRandom = "webhook.random", 500, "The server could not draw a webhook signing secret.";
    WebhookStale = "webhook.stale", 401, "The webhook's timestamp is more than five minutes from the server's clock.";
    WebhookTooMany = "webhook.too_many", 409, "The token has as many live webhook endpoints as allowed; delete one first.";
    WorkerDiskFull = "worker.disk_full", 507, "A job failed: the worker's temporary folder ran out of space; another attempt may run where there is room.";
    WorkerIo = "worker.io", 500, "A job failed: the work folder could not be read or written.";
    WorkerTask = "worker.task", 500, "A job failed: a worker task panicked or was cancelled.";
}

impl Code {
    /// The code with this string, if it is in the catalogue.
    pub fn parse(code: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// The name the studio's script uses for this code: `auth.code_invalid` is
    /// `AUTH_CODE_INVALID`.
    pub fn js_name(self) -> String {
        self.as_str().replace('.', "_").to_ascii_uppercase()
    }

    /// True when the caller was at fault (a 4xx status).
    pub const fn is_client_error(self) -> bool {
        self.status() < 500
    }

    /// The studio's module (`/static/errors.js`): every code by its [`Code::js_name`], frozen, so
    /// the script names codes without copying their strings. Reading a name that is not in the
    /// catalogue throws, so a typo fails loudly instead of matching nothing.
    pub fn js_module() -> String {
        let mut out = String::from(
            "// Generated from reelsmith_core::codes::Code by the server; do not edit.\n\
             window.ERROR_CODES = new Proxy(Object.freeze({\n",
        );
        for code in Code::ALL {
            out.push_str(&format!("  {}: '{}',\n", code.js_name(), code.as_str()));
        }
        out.push_str(
            "}), { get(codes, name) { if (typeof name === 'string' && !(name in codes)) \
             throw new Error('unknown error code name ' + name); return codes[name]; } });\n",
        );
        out
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// Tests and callers compare a code with its published string: `assert_eq!(err.code(), "x.y")`.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.as_str()
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_well_formed_and_carry_an_error_status() {
        let mut seen = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} is in the catalogue twice");
            assert!(
                names.insert(code.js_name()),
                "{s}: its script name is taken"
            );
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{s} is not a lower-case dotted code"
            );
            assert!(
                (400..600).contains(&code.status()),
                "{s}: {}",
                code.status()
            );
            assert!(
                !code.meaning().is_empty() && !code.meaning().contains('|'),
                "{s}"
            );
            assert_eq!(Code::parse(s), Some(*code));
        }
        assert_eq!(Code::parse("no.such_code"), None);
    }

    #[test]
    fn the_script_module_names_every_code() {
        let js = Code::js_module();
        assert!(js.contains("  AUTH_CODE_INVALID: 'auth.code_invalid',\n"));
        assert!(js.contains("  NOT_FOUND: 'not_found',\n"));
        assert_eq!(js.matches(": '").count(), Code::ALL.len());
    }
}

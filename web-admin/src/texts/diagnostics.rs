//! The diagnostics, technical logs and support bundle, in French.

pub const NAV_DIAGNOSTICS: &str = "Diagnostic";
pub const NAV_LOGS: &str = "Journaux techniques";

// Dashboard lights taken from the quick diagnostics
pub const CHECK_DNS: &str = "Opérateur trouvé (DNS)";
pub const CHECK_CLOCK: &str = "Horloge synchronisée";
pub const CHECK_DISK: &str = "Espace disque";
pub const DIAG_SEE_PAGE: &str = "Voir le diagnostic";

// Diagnostics page
pub const DIAG_TITLE: &str = "Diagnostic";
pub const DIAG_INTRO: &str = "Chaque vérification vient d’être faite à l’instant : recherche de l’opérateur, connexion, sécurité TLS, horloge, disque, file d’attente et certificat. Aucun message n’est envoyé.";
pub const DIAG_RUN_AGAIN: &str = "Relancer le diagnostic";
pub const DIAG_ALL_OK: &str = "Tout fonctionne.";
pub const DIAG_SOME_WARN: &str = "Le boîtier fonctionne, mais un point demande votre attention.";
pub const DIAG_SOME_BAD: &str = "Au moins une vérification a échoué : suivez ce qui est indiqué.";
pub const DIAG_TODO: &str = "Que faire :";
pub const DIAG_MEASURED: &str = "Mesure :";
pub const DIAG_TECHNICAL: &str = "Détail technique :";
pub const DIAG_CAPTION: &str = "Résultat de chaque vérification";
pub const BUNDLE_TITLE: &str = "Dossier d’assistance";
pub const BUNDLE_INTRO: &str = "Un fichier zip à transmettre à votre installateur ou au support : version, état, diagnostic, derniers journaux techniques, configuration sans ses secrets et vérification du journal d’audit. Il ne contient aucun message, aucune donnée de patient, aucun mot de passe ni aucune clé. Son téléchargement est inscrit au journal.";
pub const BUNDLE_DOWNLOAD: &str = "Télécharger le dossier d’assistance";

/// The name of a check.
pub fn diag_label(id: &str) -> &str {
    match id {
        "dns" => "Opérateur trouvé (DNS)",
        "smtp_connect" => "Connexion à l’opérateur (envoi)",
        "imap_connect" => "Connexion à l’opérateur (réception)",
        "tls" => "Sécurité de la connexion (TLS)",
        "clock" => "Horloge",
        "disk" => "Espace disque",
        "queue" => "File d’attente",
        "credential" => "Certificat de la messagerie",
        other => other,
    }
}

const CALL_INSTALLER: &str =
    "Si cela persiste, contactez votre installateur avec le dossier d’assistance ci-dessous.";

/// What the result means and what to do (None: nothing to do).
pub fn diag_advice(code: &str) -> (&'static str, Option<&'static str>) {
    match code {
        "dns_ok" | "dns_srv_ok" => ("Le serveur de l’opérateur MSSanté est trouvé.", None),
        "dns_ip_literal" => (
            "L’adresse de l’opérateur est configurée directement (adresse IP).",
            None,
        ),
        "dns_failed" | "dns_no_srv" | "dns_timeout" => (
            "Le nom du serveur de l’opérateur MSSanté ne peut pas être trouvé.",
            Some(
                "Vérifiez que le boîtier est bien branché au réseau et que la box internet fonctionne (ouvrez un site web depuis un poste du cabinet). Si internet fonctionne, le réglage DNS du boîtier ou du réseau est en cause : contactez votre installateur.",
            ),
        ),
        "dns_unavailable" => (
            "Vérification impossible : le serveur de l’opérateur n’a pas été trouvé (voir la ligne DNS).",
            Some("Réglez d’abord le problème de DNS indiqué plus haut."),
        ),
        "tcp_ok" => ("Le serveur de l’opérateur répond.", None),
        "tcp_slow" => (
            "Le serveur de l’opérateur répond, mais lentement.",
            Some(
                "La connexion internet du cabinet est peut-être saturée (téléchargements, sauvegardes). Les envois se font quand même.",
            ),
        ),
        "tcp_refused" | "tcp_failed" | "tcp_timeout" => (
            "Le serveur de l’opérateur ne répond pas.",
            Some(
                "Vérifiez la connexion internet du cabinet. Si elle fonctionne, l’opérateur peut être en maintenance (consultez son site) ou un pare-feu bloque le port : contactez votre installateur. Les messages attendent dans la file et partiront d’eux-mêmes.",
            ),
        ),
        "tls_ok" => (
            "La connexion sécurisée avec l’opérateur fonctionne et son certificat est valide.",
            None,
        ),
        "tls_certificate_expiring" => (
            "Le certificat du serveur de l’opérateur expire bientôt.",
            Some(
                "Rien à faire de votre côté : l’opérateur le renouvelle. Si l’échéance approche sans changement, prévenez-le.",
            ),
        ),
        "tls_certificate_invalid" => (
            "Le certificat présenté par le serveur n’est pas reconnu (autorité IGC-Santé, nom ou dates).",
            Some(
                "N’envoyez rien par un autre moyen. Vérifiez que l’horloge du boîtier est juste (ligne Horloge), puis contactez votre installateur : la connexion n’est peut-être pas celle de votre opérateur.",
            ),
        ),
        "tls_refused_by_operator" => (
            "L’opérateur a refusé la connexion sécurisée, sans doute le certificat du cabinet.",
            Some(
                "Vérifiez que la carte CPS est insérée et déverrouillée, ou que le certificat logiciel est valide (ligne Certificat). Sinon, contactez votre opérateur MSSanté.",
            ),
        ),
        "tls_no_starttls" => (
            "Le serveur ne propose pas de connexion chiffrée : rien ne lui sera envoyé.",
            Some(
                "Contactez votre installateur : l’adresse de l’opérateur configurée n’est sans doute pas la bonne.",
            ),
        ),
        "tls_refused"
        | "tls_protocol"
        | "tls_handshake_failed"
        | "tls_bad_name"
        | "tls_connect_failed"
        | "tls_timeout" => (
            "La connexion sécurisée avec l’opérateur n’a pas pu être établie.",
            Some(CALL_INSTALLER),
        ),
        "clock_synchronised" => ("L’horloge du boîtier est réglée automatiquement.", None),
        "clock_unsynchronised" => (
            "L’horloge du boîtier n’est pas synchronisée sur internet.",
            Some(
                "Une heure fausse fait refuser les certificats. Vérifiez que le boîtier accède à internet ; si cela dure, contactez votre installateur (service NTP).",
            ),
        ),
        "clock_unknown" => (
            "L’état de l’horloge n’a pas pu être lu.",
            Some(CALL_INSTALLER),
        ),
        "clock_implausible" => (
            "L’horloge du boîtier est fausse (date antérieure à 2026).",
            Some(
                "Les connexions sécurisées échoueront tant que l’heure est fausse. Vérifiez l’accès à internet puis redémarrez le boîtier ; sinon contactez votre installateur.",
            ),
        ),
        "disk_ok" => ("Il reste assez de place pour les messages.", None),
        "disk_low" => (
            "L’espace disque devient faible.",
            Some(
                "Videz les dossiers d’envoi traités (sent/) et d’import déjà repris par votre logiciel, ou contactez votre installateur.",
            ),
        ),
        "disk_critical" => (
            "Le disque est presque plein : de nouveaux messages pourraient être refusés.",
            Some(
                "Libérez de la place dès maintenant (dossiers d’envoi traités, imports déjà repris) et contactez votre installateur.",
            ),
        ),
        "disk_unreadable" => (
            "L’espace disque n’a pas pu être mesuré.",
            Some(CALL_INSTALLER),
        ),
        "queue_empty" => ("Aucun message n’attend.", None),
        "queue_ok" => ("Des messages partent en ce moment.", None),
        "queue_slow" => (
            "Des messages attendent depuis plus d’une heure.",
            Some(
                "Regardez la page File d’attente : la dernière réponse de l’opérateur dit pourquoi. Vérifiez la carte CPS et la connexion.",
            ),
        ),
        "queue_stuck" => (
            "Des messages attendent depuis plus d’un jour.",
            Some(
                "Ouvrez la page File d’attente et lisez la dernière réponse de l’opérateur. Après 5 jours, un message est abandonné et un avis d’échec est produit.",
            ),
        ),
        "queue_unreadable" | "queue_timeout" | "queue_failed" => (
            "La file d’attente n’a pas pu être lue.",
            Some(CALL_INSTALLER),
        ),
        "credential_ok" => ("Le certificat du cabinet est valide et prêt.", None),
        "credential_expiring" => (
            "Le certificat du cabinet (carte CPS ou certificat logiciel) expire bientôt.",
            Some(
                "Commandez son renouvellement maintenant (carte CPS : auprès de l’ANS ; certificat logiciel : auprès de votre opérateur ou de votre installateur).",
            ),
        ),
        "credential_expired" => (
            "Le certificat du cabinet a expiré : l’opérateur refusera les envois.",
            Some("Faites renouveler la carte CPS ou le certificat logiciel, puis installez-le."),
        ),
        "credential_unavailable" => (
            "Le certificat du cabinet n’est pas utilisable en ce moment.",
            Some("Insérez la carte CPS et déverrouillez-la (page Carte CPS)."),
        ),
        _ => ("Résultat non reconnu.", Some(CALL_INSTALLER)),
    }
}

/// A measured value in words.
pub fn diag_value(value: i64, unit: &str) -> String {
    match unit {
        "ms" => format!("{value} ms"),
        "days" if value.abs() <= 1 => format!("{value} jour"),
        "days" => format!("{value} jours"),
        "percent" => format!("{value} % libre"),
        "seconds" if value < 60 => format!("{value} s"),
        "seconds" if value < 3600 => format!("{} min", value / 60),
        "seconds" if value < 86_400 => format!("{} h {} min", value / 3600, value % 3600 / 60),
        "seconds" => format!("{} j {} h", value / 86_400, value % 86_400 / 3600),
        other => format!("{value} {other}"),
    }
}

/// Free space, for the dashboard: "12 % libre (3,4 Go)".
pub fn disk_free(percent: i64, free_bytes: u64) -> String {
    let gb = free_bytes as f64 / 1e9;
    let text = if gb >= 1.0 {
        format!("{gb:.1} Go")
    } else {
        format!("{} Mo", free_bytes / 1_000_000)
    };
    format!("{percent} % libre ({})", text.replace('.', ","))
}

// Technical logs page
pub const LOGS_TITLE: &str = "Journaux techniques";
pub const LOGS_INTRO: &str = "Les derniers événements techniques du service (les plus récents d’abord), pour comprendre un problème. Ils ne contiennent ni message, ni donnée de patient, ni secret. Le journal d’audit, lui, est dans « Journal ».";
pub const LOGS_LEVEL: &str = "Gravité";
pub const LOGS_LEVEL_ALL: &str = "Toutes";
pub const LOGS_COMPONENT: &str = "Composant";
pub const LOGS_COMPONENT_HINT: &str = "Par exemple queue, smtp, upstream, inbound, card.";
pub const LOGS_TEXT: &str = "Texte";
pub const LOGS_FILTER: &str = "Filtrer";
pub const LOGS_NOTHING: &str = "Aucun événement ne correspond.";
pub const LOGS_CAPTION: &str = "Événements techniques, les plus récents d’abord";
pub const COL_LEVEL: &str = "Gravité";
pub const COL_COMPONENT: &str = "Composant";
pub const COL_FIELDS: &str = "Détails";
pub const BAD_LOG_LEVEL: &str = "Gravité inconnue : choisissez-la dans la liste.";
pub const BAD_LOG_COMPONENT: &str =
    "Composant incorrect : 32 caractères au plus, lettres minuscules, chiffres, « _ » ou « - ».";
pub const BAD_LOG_TEXT: &str =
    "Texte de recherche incorrect : 200 caractères au plus, sans caractère de contrôle.";

/// Levels offered in the filter (least severe included), with their names.
pub const LOG_LEVELS: [(&str, &str); 5] = [
    ("error", "Erreurs"),
    ("warn", "Avertissements et erreurs"),
    ("info", "Informations et plus grave"),
    ("debug", "Débogage et plus grave"),
    ("trace", "Tout"),
];

/// One event's level in words.
pub fn log_level(level: &str) -> &str {
    match level {
        "error" => "Erreur",
        "warn" => "Avertissement",
        "info" => "Information",
        "debug" => "Débogage",
        "trace" => "Trace",
        other => other,
    }
}

//! Every sentence the web admin shows, in French, in one place (an
//! English table can follow with the same names).

pub const APP_NAME: &str = "Facteur";
pub const SKIP_TO_CONTENT: &str = "Aller au contenu";

// Diagnostics, technical logs, support bundle (texts/diagnostics.rs)
mod diagnostics;
pub use diagnostics::*;

// Navigation
pub const NAV_DASHBOARD: &str = "Tableau de bord";
pub const NAV_CARD: &str = "Carte CPS";
pub const NAV_QUEUE: &str = "File d’attente";
pub const NAV_TRACKING: &str = "Suivi des messages";
pub const NAV_AUDIT: &str = "Journal";
pub const NAV_LOGOUT: &str = "Se déconnecter";
pub const NAV_LABEL: &str = "Navigation principale";

// Setup
pub const SETUP_TITLE: &str = "Première mise en service";
pub const SETUP_INTRO: &str = "Saisissez le code de mise en service affiché sur la console du boîtier, puis choisissez le mot de passe d’administration. Il n’existe aucun mot de passe par défaut.";
pub const SETUP_CODE_LABEL: &str = "Code de mise en service";
pub const SETUP_CODE_HINT: &str = "8 caractères, par exemple 7K3F-9QXM.";
pub const SETUP_PASSWORD_LABEL: &str = "Mot de passe d’administration";
pub const SETUP_PASSWORD_HINT: &str =
    "Au moins 12 caractères. Une phrase facile à retenir convient bien.";
pub const SETUP_CONFIRM_LABEL: &str = "Confirmez le mot de passe";
pub const SETUP_SUBMIT: &str = "Mettre en service";
pub const SETUP_WRONG_CODE: &str = "Code de mise en service incorrect.";
pub const SETUP_MISMATCH: &str = "Les deux mots de passe ne sont pas identiques.";
pub const SETUP_DONE: &str = "Boîtier mis en service. Connectez-vous avec le mot de passe choisi.";

// Password rules
pub const PASSWORD_TOO_SHORT: &str = "Mot de passe trop court : il faut au moins 12 caractères.";
pub const PASSWORD_TOO_LONG: &str = "Mot de passe trop long : 128 caractères au plus.";
pub const PASSWORD_COMMON: &str =
    "Ce mot de passe fait partie des plus courants : choisissez-en un autre.";
pub const PASSWORD_CONTAINS_NAME: &str =
    "Le mot de passe ne doit pas contenir « facteur » ni « mssante ».";
pub const PASSWORD_CONTAINS_CODE: &str =
    "Le mot de passe ne doit pas contenir le code de mise en service.";
pub const PASSWORD_REPETITIVE: &str = "Mot de passe trop répétitif : variez les caractères.";

// Login
pub const LOGIN_TITLE: &str = "Connexion";
pub const LOGIN_PASSWORD_LABEL: &str = "Mot de passe d’administration";
pub const LOGIN_SUBMIT: &str = "Se connecter";
pub const LOGIN_WRONG: &str = "Mot de passe incorrect.";
pub const LOGGED_OUT: &str = "Vous êtes déconnecté.";
pub const SESSION_ENDED: &str = "Votre session a expiré : reconnectez-vous.";

// Errors
pub const NOT_FOUND_TITLE: &str = "Page introuvable";
pub const NOT_FOUND: &str = "Cette page n’existe pas.";
pub const FORBIDDEN_TITLE: &str = "Requête refusée";
pub const CSRF_REFUSED: &str = "Cette requête n’a pas été reconnue comme venant de ce site (jeton de sécurité absent ou périmé). Rechargez la page et recommencez.";
pub const TOO_MANY_TITLE: &str = "Trop de tentatives";
pub const BAD_REQUEST_TITLE: &str = "Formulaire illisible";
pub const BAD_REQUEST: &str =
    "Le formulaire envoyé n’a pas pu être lu. Rechargez la page et recommencez.";
pub const INTERNAL_TITLE: &str = "Erreur interne";
pub const INTERNAL: &str = "Le boîtier n’a pas pu enregistrer ce changement. Réessayez ; si le problème persiste, contactez votre installateur.";
pub const BACK_HOME: &str = "Retour à l’accueil";

pub fn too_many(wait_secs: u64) -> String {
    format!("Trop de tentatives. Réessayez dans {wait_secs} seconde(s).")
}

// Daemon
pub const DAEMON_DOWN: &str = "Le service Facteur ne répond pas. Vérifiez que le boîtier est bien démarré, puis actualisez la page.";
pub const DAEMON_SLOW: &str =
    "Le service Facteur met trop de temps à répondre. Réessayez dans un instant.";
pub const DAEMON_PROTOCOL: &str = "Réponse inattendue du service Facteur.";
pub const NO_CARD_CREDENTIAL: &str =
    "Ce boîtier envoie avec un certificat logiciel : aucune carte CPS n’est utilisée.";

// Dashboard
pub const DASHBOARD_TITLE: &str = "État du boîtier";
pub const REFRESH: &str = "Actualiser";
pub const LEVEL_OK: &str = "OK";
pub const LEVEL_WARN: &str = "À surveiller";
pub const LEVEL_BAD: &str = "Problème";
pub const CHECK_READER: &str = "Lecteur de carte";
pub const CHECK_CARD_PRESENT: &str = "Carte CPS présente";
pub const CHECK_CARD_UNLOCKED: &str = "Carte CPS déverrouillée";
pub const CHECK_CARD_EXPIRY: &str = "Validité de la carte";
pub const CHECK_CREDENTIAL: &str = "Certificat prêt à signer";
pub const CHECK_OPERATOR: &str = "Opérateur MSSanté";
pub const CHECK_QUEUE: &str = "File d’envoi";
pub const READER_PCSC_DOWN: &str = "Service de lecture de carte indisponible";
pub const READER_NONE: &str = "Aucun lecteur branché";
pub const CARD_NONE: &str = "Aucune carte dans le lecteur";
pub const CARD_NOT_CPS: &str = "La carte insérée n’est pas une carte CPS";
pub const CARD_UNREADABLE: &str = "Carte illisible";
pub const CARD_UNLOCKED: &str = "Déverrouillée";
pub const CARD_BLOCKED: &str = "Bloquée : trois codes faux. Seul le code PUK, auprès d’un guichet d’enregistrement, la débloque.";
pub const CARD_GO_UNLOCK: &str = "Saisir le code";
pub const CREDENTIAL_READY: &str = "Prêt";
pub const SOFTWARE_CREDENTIAL: &str = "Certificat logiciel";
pub const OPERATOR_OK: &str = "Joignable, envois en cours normalement";
pub const QUEUE_EMPTY: &str = "Aucun message en attente";
pub const UNKNOWN: &str = "Inconnu";

pub fn card_locked(tries: u8) -> String {
    format!("Verrouillée : code à saisir ({})", tries_left(tries))
}

pub fn tries_left(tries: u8) -> String {
    match tries {
        0 => "aucun essai restant".into(),
        1 => "1 essai restant".into(),
        n => format!("{n} essais restants"),
    }
}

pub fn expires_in(days: i64) -> String {
    match days {
        d if d < 0 => "Expirée".into(),
        0 => "Expire aujourd’hui".into(),
        1 => "Expire demain".into(),
        d => format!("Expire dans {d} jours"),
    }
}

pub fn operator_unreachable(retry_in: Option<u64>) -> String {
    match retry_in {
        Some(s) => format!("Injoignable : nouvel essai dans {s} s"),
        None => "Injoignable".into(),
    }
}

pub fn sending_paused(reason: &str) -> String {
    format!("Envois suspendus : {reason}")
}

pub fn queue_summary(pending: u64, failed: u64) -> String {
    let mut parts = Vec::new();
    if pending > 0 {
        parts.push(format!("{pending} en attente"));
    }
    if failed > 0 {
        parts.push(format!("{failed} en échec"));
    }
    if parts.is_empty() {
        QUEUE_EMPTY.into()
    } else {
        parts.join(", ")
    }
}

// Card page
pub const CARD_TITLE: &str = "Carte CPS";
pub const CARD_HOLDER: &str = "Titulaire";
pub const CARD_PROFESSION: &str = "Profession";
pub const CARD_STATE: &str = "État";
pub const CARD_TRIES: &str = "Essais restants";
pub const CARD_READER: &str = "Lecteur";
pub const PIN_LABEL: &str = "Code porteur (4 à 8 chiffres)";
pub const PIN_HINT: &str =
    "Le code est présenté une seule fois à la carte ; il n’est jamais enregistré.";
pub const PIN_SUBMIT: &str = "Déverrouiller la carte";
pub const PIN_FORMAT: &str = "Le code porteur comporte 4 à 8 chiffres.";
pub const LAST_TRY_WARNING: &str =
    "Attention : il ne reste qu’un essai. Un code faux bloquera la carte.";
pub const LAST_TRY_CONFIRM: &str = "Je confirme : c’est mon dernier essai, je suis sûr du code.";
pub const LAST_TRY_NOT_CONFIRMED: &str =
    "Il ne reste qu’un essai : cochez la confirmation pour présenter le code.";
pub const CARD_ALREADY_UNLOCKED: &str = "La carte est déverrouillée : rien à faire.";
pub const CARD_NOT_READY: &str = "Aucune carte CPS prête dans le lecteur.";
pub const CARD_ERROR: &str = "La carte a répondu de façon inattendue.";
pub const PINPAD_CANCELLED: &str = "Saisie sur le lecteur annulée ou trop longue.";
pub const IDENTITY_DIFFERENT: &str = "Cette carte n’est pas celle du praticien enregistré : les envois restent suspendus tant que ce changement n’est pas accepté.";

pub fn wrong_pin(tries: u8) -> String {
    format!("Code faux : {}.", tries_left(tries))
}

// Errors of the control API
pub const NO_SUCH_MESSAGE: &str =
    "Message introuvable : il n’est ni dans la file d’attente ni dans le suivi.";
pub const ACTION_NOT_APPLICABLE: &str = "Cette action ne s’applique pas à l’état actuel du message (déjà parti, suspendu ou supprimé) : la page a été actualisée.";
pub const DELETE_NOT_CONFIRMED: &str =
    "La suppression n’a pas été confirmée : rien n’a été supprimé.";
pub const BAD_QUERY: &str = "Le service Facteur a refusé cette demande comme mal formée.";
pub const QUEUE_UNAVAILABLE: &str = "La file d’attente ne peut pas être lue pour l’instant.";
pub const TRACKING_UNAVAILABLE: &str = "Le suivi des messages ne peut pas être lu pour l’instant.";
pub const AUDIT_UNAVAILABLE: &str = "Le journal ne peut pas être lu pour l’instant.";

// Form checks
pub const BAD_INPUT_TITLE: &str = "Demande incorrecte";
pub const BAD_QUEUE_ID: &str =
    "Identifiant de message incorrect : il comporte 16 chiffres hexadécimaux.";
pub const BAD_RECIPIENT: &str = "Adresse du destinataire incorrecte.";
pub const BAD_MESSAGE_ID: &str = "Identifiant de message incorrect.";
pub const BAD_SEARCH_TEXT: &str =
    "Texte recherché incorrect : 200 caractères au plus, sans caractère de contrôle.";
pub const BAD_STATE: &str = "État inconnu : choisissez-en un dans la liste.";
pub const BAD_DATE: &str = "Date incorrecte : utilisez le format JJ/MM/AAAA.";
pub const BAD_DATE_ORDER: &str = "La date de début est après la date de fin.";
pub const BAD_SEQ: &str = "Position dans le journal incorrecte.";
pub const BAD_ACTION: &str = "Action inconnue.";
pub const BACK: &str = "Retour";

// States, as the practice reads them (text, never colour alone)
pub fn state_label(state: &str) -> &'static str {
    match state {
        "pending" => "En attente d’envoi",
        "held" => "Suspendu",
        "delivered" | "sent" => "Envoyé",
        "failed" => "Échec",
        "deleted" => "Supprimé",
        "read" => "Lu",
        "no_answer" => "Pas de réponse",
        "paper" => "Envoyé sur papier",
        _ => "Inconnu",
    }
}

/// A tracking state (where `delivered` means the recipient's mailbox has it).
pub fn tracking_state_label(state: &str) -> &'static str {
    match state {
        "sent" => "Envoyé",
        "delivered" => "Remis",
        other => state_label(other),
    }
}

/// The states offered by the search form, in order.
pub const SEARCH_STATES: [&str; 9] = [
    "pending",
    "held",
    "sent",
    "delivered",
    "read",
    "failed",
    "no_answer",
    "deleted",
    "paper",
];

/// A step of a timeline.
pub fn step_label(event: &str, detail: Option<&str>) -> String {
    let with = |label: &str| match detail {
        Some(d) if !d.is_empty() => format!("{label} : {d}"),
        _ => label.to_string(),
    };
    match event {
        "accepted" => "Accepté".into(),
        "deferred" => with("Nouvel essai prévu"),
        "sent" => "Envoyé".into(),
        "delivered" => "Remis".into(),
        "read" => "Lu".into(),
        "failed" => with("Échec"),
        "expired" => with("Échec : délai d’envoi dépassé"),
        "reported" => "Avis d’échec remis au cabinet".into(),
        "no_answer" => "Pas de réponse".into(),
        "paper" => "Envoyé sur papier".into(),
        "held" => with("Suspendu"),
        "released" => with("Repris"),
        "retried" => with("Nouvel essai demandé"),
        "deleted" => with("Supprimé"),
        other => with(other),
    }
}

// Queue page
pub const QUEUE_TITLE: &str = "File d’attente";
pub const QUEUE_INTRO: &str =
    "Messages pas encore remis à l’opérateur MSSanté, un par destinataire.";
pub const QUEUE_NOTHING: &str = "Aucun message dans la file d’attente.";
pub const COL_QUEUE_ID: &str = "N° de message";
pub const COL_RECIPIENT: &str = "Destinataire";
pub const COL_STATE: &str = "État";
pub const COL_ATTEMPTS: &str = "Essais";
pub const COL_NEXT: &str = "Prochain essai";
pub const COL_REPLY: &str = "Dernière réponse";
pub const COL_ACTIONS: &str = "Actions";
pub const COL_SENT_AT: &str = "Accepté le";
pub const COL_UPDATED: &str = "Mis à jour le";
pub const COL_MESSAGE: &str = "Message";
pub const ACTION_HOLD: &str = "Suspendre";
pub const ACTION_RELEASE: &str = "Reprendre";
pub const ACTION_RETRY: &str = "Réessayer maintenant";
pub const ACTION_DELETE: &str = "Supprimer";
pub const NOW: &str = "Dès que possible";
pub const NEVER_WHILE_HELD: &str = "Aucun tant que suspendu";
pub const NONE: &str = "—";

pub fn action_done(action: &str, recipients: &[String]) -> String {
    let verb = match action {
        "hold" => "Suspendu",
        "release" => "Repris",
        "retry" => "Nouvel essai demandé",
        "delete" => "Supprimé",
        _ => "Fait",
    };
    if recipients.is_empty() {
        format!("{verb}.")
    } else {
        format!("{verb} : {}.", recipients.join(", "))
    }
}

/// The accessible name of an action button on one row.
pub fn action_for(label: &str, recipient: &str) -> String {
    format!("{label} (message pour {recipient})")
}

// Delete confirmation
pub const DELETE_TITLE: &str = "Supprimer un message";
pub const DELETE_WARNING: &str = "La suppression est définitive : le message ne sera pas envoyé à ce destinataire et aucun avis d’échec ne sera produit. Le suivi garde la trace de la suppression.";
pub const DELETE_ALL_RECIPIENTS: &str = "Tous les destinataires encore en attente ou suspendus";
pub const DELETE_CONFIRM_LABEL: &str = "Je confirme la suppression définitive de ce message.";
pub const DELETE_SUBMIT: &str = "Supprimer définitivement";
pub const DELETE_CANCEL: &str = "Annuler";
pub const DELETE_NOTHING: &str =
    "Rien à supprimer : ce message n’a plus de destinataire en attente ou suspendu.";
pub const FROM: &str = "Expéditeur";
pub const RECEIVED: &str = "Reçu par le boîtier le";

// Tracking
pub const TRACKING_TITLE: &str = "Suivi des messages";
pub const SEARCH_LEGEND: &str = "Rechercher";
pub const SEARCH_TEXT_LABEL: &str = "Correspondant ou identifiant";
pub const SEARCH_TEXT_HINT: &str =
    "Une partie de l’adresse MSSanté du destinataire, ou le numéro du message.";
pub const SEARCH_STATE_LABEL: &str = "État";
pub const SEARCH_ANY_STATE: &str = "Tous les états";
pub const SEARCH_FROM_LABEL: &str = "Accepté à partir du";
pub const SEARCH_TO_LABEL: &str = "Jusqu’au (inclus)";
pub const SEARCH_SUBMIT: &str = "Rechercher";
pub const SEARCH_NOTHING: &str = "Aucun message ne correspond à cette recherche.";
pub const SEARCH_CAPTION: &str = "Messages trouvés (les plus récents d’abord)";
pub const TIMELINE_LINK: &str = "Voir le parcours";
pub const RECEIPT_ASKED: &str = "accusé de lecture demandé";

pub fn search_count(n: usize, limit: usize) -> String {
    match n {
        0 => SEARCH_NOTHING.into(),
        1 => "1 destinataire trouvé.".into(),
        n if n >= limit => format!(
            "{n} destinataires affichés (les plus récents) : précisez la recherche pour voir les autres."
        ),
        n => format!("{n} destinataires trouvés."),
    }
}

// Timeline
pub const TIMELINE_TITLE: &str = "Parcours du message";
pub const MESSAGE_ID: &str = "Identifiant (Message-ID)";
pub const QUEUE_IDS: &str = "N° dans la file";
pub const SUBMITTED_BY: &str = "Déposé par";
pub const STEP_TIME: &str = "Date et heure";
pub const STEP_EVENT: &str = "Étape";
pub const CURRENT_STATE: &str = "État actuel";
pub const NO_STEPS: &str = "Aucune étape enregistrée.";
pub const BACK_TO_TRACKING: &str = "Retour au suivi des messages";

pub fn timeline_for(recipient: &str) -> String {
    format!("Pour {recipient}")
}

// Audit log
pub const AUDIT_TITLE: &str = "Journal";
pub const AUDIT_INTRO: &str = "Chaque action sur le boîtier (connexions, carte, messages) est inscrite dans un journal chaîné : toute modification après coup se voit à la vérification.";
pub const AUDIT_CAPTION: &str = "Entrées du journal (les plus anciennes d’abord)";
pub const AUDIT_NOTHING: &str = "Aucune entrée.";
pub const COL_TIME: &str = "Date et heure";
pub const COL_ACTOR: &str = "Auteur";
pub const COL_ACTION: &str = "Action";
pub const COL_OBJECT: &str = "Objet";
pub const COL_DETAIL: &str = "Détail";
pub const COL_SEQ: &str = "N°";
pub const AUDIT_EXPORT: &str = "Exporter le journal complet (JSON)";
pub const AUDIT_NEXT: &str = "Entrées suivantes";
pub const AUDIT_LATEST: &str = "Dernières entrées";
pub const AUDIT_FIRST: &str = "Début du journal";
pub const AUDIT_PREVIOUS: &str = "Entrées précédentes";
pub const AUDIT_PAGING: &str = "Pages du journal";

pub fn audit_ok(entries: u64) -> String {
    match entries {
        0 | 1 => format!("Journal intègre : {entries} entrée."),
        n => format!("Journal intègre : {n} entrées."),
    }
}

pub fn audit_broken(file: &str, line: u64, reason: &str, valid: u64) -> String {
    format!(
        "Journal altéré : la chaîne est rompue dans {file}, ligne {line} ({reason}). {valid} entrée(s) valide(s) avant."
    )
}

pub fn audit_action(action: &str) -> &str {
    match action {
        "daemon_started" => "Démarrage du service",
        "daemon_stopped" => "Arrêt du service",
        "message_accepted" => "Message accepté",
        "message_sent" => "Message envoyé",
        "message_failed" => "Échec d’envoi",
        "message_received" => "Message reçu",
        "queue_held" => "Message suspendu",
        "queue_released" => "Message repris",
        "queue_retried" => "Nouvel essai demandé",
        "message_deleted" => "Message supprimé",
        "card_unlocked" => "Carte déverrouillée",
        "card_unlock_failed" => "Échec de déverrouillage de la carte",
        "card_identity_accepted" => "Nouveau titulaire de carte accepté",
        "audit_recovered" => "Journal réparé après une coupure",
        "audit_exported" => "Journal exporté",
        "support_bundle_downloaded" => "Dossier d’assistance téléchargé",
        "box_claimed" => "Mise en service",
        "signin" => "Connexion à l’administration",
        "signin_failed" => "Échec de connexion",
        "signout" => "Déconnexion",
        "settings_changed" => "Réglage modifié",
        other => other,
    }
}

// Dashboard: latest messages
pub const LATEST_TITLE: &str = "Derniers messages";
pub const LATEST_NOTHING: &str = "Aucun message envoyé pour l’instant.";
pub const LATEST_ALL: &str = "Tout le suivi des messages";

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
pub const NAV_CONTACTS: &str = "Carnet d’adresses";
pub const NAV_DIRECTORY: &str = "Annuaire santé";
pub const NAV_PAPER: &str = "Courrier papier";
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
pub const BOARD_TITLE: &str = "Le boîtier";
pub const BOARD_LIGHT: &str = "Voyant :";
pub const BOARD_IDENTIFY: &str = "Identifier le boîtier";
pub const BOARD_IDENTIFY_HINT: &str =
    "Le voyant clignote en blanc et le boîtier bipe pendant 30 secondes, pour le retrouver.";
pub const BOARD_IDENTIFYING: &str = "Le voyant du boîtier clignote en blanc pendant 30 secondes.";
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
pub const SEARCH_TEXT_LABEL: &str = "Correspondant, patient ou identifiant";
pub const SEARCH_TEXT_HINT: &str = "Une partie de l’adresse MSSanté du destinataire, le numéro du message, ou le patient (nom, date de naissance JJ/MM/AAAA, INS) pour les documents déposés avec leur fiche.";
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
        "contact_added" => "Correspondant ajouté au carnet",
        "contact_removed" => "Correspondant retiré du carnet",
        "psc_login_requested" => "Connexion à Pro Santé Connect demandée",
        "psc_logout_requested" => "Déconnexion de Pro Santé Connect demandée",
        "credential_changed" => "Moyen de connexion de la messagerie changé",
        "restart_requested" => "Redémarrage du service demandé",
        "psc.login" => "Connexion à Pro Santé Connect",
        "psc.login_refused" => "Connexion à Pro Santé Connect refusée",
        "psc.logout" => "Déconnexion de Pro Santé Connect",
        "psc.session_ended" => "Fin de la session Pro Santé Connect",
        other => other,
    }
}

// Dashboard: latest messages
pub const LATEST_TITLE: &str = "Derniers messages";
pub const LATEST_NOTHING: &str = "Aucun message envoyé pour l’instant.";
pub const LATEST_ALL: &str = "Tout le suivi des messages";

// Set-up wizard (steps 2 to 5), settings, local accounts
pub const NAV_SETTINGS: &str = "Réglages";
pub const NAV_ACCOUNTS: &str = "Comptes locaux";
pub const WIZARD_TITLE: &str = "Mise en service";
pub const WIZARD_STEPS: [&str; 5] = [
    "Mot de passe",
    "Messagerie",
    "Carte CPS",
    "Test de connexion",
    "Postes du cabinet",
];
pub const WIZARD_PROGRESS: &str = "Étapes de la mise en service";
pub const WIZARD_BANNER: &str = "La mise en service n’est pas terminée.";
pub const WIZARD_RESUME: &str = "Reprendre la mise en service";
pub const OPERATOR_LEGEND: &str = "Votre opérateur de messagerie MSSanté";
pub const OPERATOR_HINT: &str = "C’est l’organisme qui vous a ouvert votre boîte aux lettres MSSanté (il figure sur le courrier ou le courriel d’ouverture).";
pub const MANUAL_LEGEND: &str = "Réglages de l’opérateur (fournis par lui)";
pub const MANUAL_SMTP_HOST: &str = "Serveur d’envoi (SMTP)";
pub const MANUAL_SMTP_PORT: &str = "Port d’envoi";
pub const MANUAL_IMAP_HOST: &str = "Serveur de réception (IMAP)";
pub const MANUAL_IMAP_PORT: &str = "Port de réception";
pub const MANUAL_NEEDED: &str =
    "Pour un autre opérateur, saisissez ses serveurs d’envoi et de réception.";
pub const MAILBOX_LABEL: &str = "Adresse de votre messagerie MSSanté";
pub const MAILBOX_HINT: &str = "Par exemple prenom.nom@medecin.mssante.fr.";
pub const MAILBOX_TYPE_LEGEND: &str = "Type de boîte aux lettres";
pub const MAILBOX_TYPE_CARD: &str = "Personnelle, avec ma carte CPS";
pub const MAILBOX_TYPE_CARD_HINT: &str =
    "La carte reste dans le lecteur du boîtier ; son code est demandé après chaque redémarrage.";
pub const MAILBOX_TYPE_SOFTWARE: &str =
    "Du cabinet ou d’une application, avec un certificat logiciel";
pub const MAILBOX_TYPE_SOFTWARE_HINT: &str =
    "Fichier .p12 (ou .pfx) remis par l’ANS ou votre opérateur, avec son mot de passe.";
pub const P12_FILE_LABEL: &str = "Fichier du certificat (.p12)";
pub const P12_PASSWORD_LABEL: &str = "Mot de passe du certificat";
pub const P12_NEEDED: &str = "Choisissez le fichier du certificat et saisissez son mot de passe.";
pub const WIZARD_SAVE: &str = "Enregistrer et continuer";
pub const WIZARD_CONTINUE: &str = "Continuer";
pub const WIZARD_BACK: &str = "Revenir à l’étape précédente";
pub const CHOOSE_OPERATOR: &str = "Choisissez votre opérateur.";
pub const CHOOSE_TYPE: &str = "Choisissez le type de boîte aux lettres.";
pub const RESTARTING_TITLE: &str = "Redémarrage du service";
pub const RESTARTING: &str = "Les réglages sont enregistrés. Le service de messagerie redémarre pour les appliquer ; cette page se met à jour toute seule dans quelques secondes.";
pub const RESTARTING_LINK: &str = "Si rien ne se passe, cliquez ici.";
pub const CARD_STEP_INTRO: &str =
    "Insérez votre carte CPS dans le lecteur du boîtier, puis saisissez son code.";
pub const CARD_STEP_SKIPPED: &str =
    "Votre boîte aux lettres utilise un certificat logiciel : pas de carte à insérer.";
pub const CARD_STEP_WAITING: &str =
    "Le boîtier attend la carte. Insérez-la, puis rechargez cette page.";
pub const TEST_INTRO: &str = "Le boîtier va se connecter à votre opérateur avec votre carte ou votre certificat, sans envoyer de message.";
pub const TEST_SUBMIT: &str = "Tester la connexion";
pub const TEST_AGAIN: &str = "Refaire le test";
pub const TEST_OK: &str =
    "Connexion réussie : le boîtier peut envoyer et recevoir vos messages MSSanté.";
pub const TEST_FAILED: &str = "La connexion n’a pas abouti.";
pub const TEST_STEP_CREDENTIAL: &str = "Carte ou certificat";
pub const TEST_STEP_SMTP: &str = "Envoi (SMTP)";
pub const TEST_STEP_IMAP: &str = "Réception (IMAP)";
pub const TEST_STEP_OK: &str = "Réussi";
pub const TEST_STEP_FAILED: &str = "Échec";
pub const ACCOUNTS_INTRO: &str = "Les postes du cabinet (logiciel de messagerie, logiciel métier) se connectent au boîtier avec un compte local. Créez-en un par poste ou un pour le secrétariat.";
pub const ACCOUNT_USER_LABEL: &str = "Nom du compte";
pub const ACCOUNT_USER_HINT: &str =
    "Lettres minuscules sans accent, chiffres, point, tiret ; par exemple secretariat.";
pub const ACCOUNT_PASSWORD_LABEL: &str = "Mot de passe du compte";
pub const ACCOUNT_PASSWORD_HINT: &str =
    "Au moins 12 caractères. Il sera saisi une fois dans le logiciel du poste.";
pub const ACCOUNT_CONFIRM_LABEL: &str = "Confirmez le mot de passe";
pub const ACCOUNT_CREATE: &str = "Créer le compte";
pub const ACCOUNT_CHANGE: &str = "Pour changer le mot de passe d’un compte existant, saisissez son nom et le nouveau mot de passe.";
pub const ACCOUNT_REMOVE: &str = "Supprimer";
pub const ACCOUNT_REMOVE_TITLE: &str = "Supprimer un compte local";
pub const ACCOUNT_REMOVE_CONFIRM: &str =
    "Je confirme : ce poste ne pourra plus envoyer ni lire de messages par le boîtier.";
pub const ACCOUNT_CREATED: &str = "Compte créé.";
pub const ACCOUNT_UPDATED: &str = "Mot de passe changé.";
pub const ACCOUNT_REMOVED: &str = "Compte supprimé.";
pub const ACCOUNT_MISMATCH: &str = "Les deux mots de passe ne sont pas identiques.";
pub const ACCOUNTS_NONE: &str = "Aucun compte local pour l’instant.";
pub const ACCOUNTS_LIST: &str = "Comptes existants";
pub const CLIENT_SETTINGS_TITLE: &str = "Réglages à saisir sur les postes";
pub const CLIENT_SETTINGS_INTRO: &str = "Dans Thunderbird, Outlook ou le logiciel du cabinet, créez un compte de messagerie avec ces réglages (Thunderbird les trouve seul à partir de l’adresse).";
pub const CLIENT_SERVER: &str = "Serveur";
pub const CLIENT_SMTP: &str = "Envoi (SMTP)";
pub const CLIENT_IMAP: &str = "Réception (IMAP)";
pub const CLIENT_SECURITY: &str = "STARTTLS, mot de passe normal";
pub const CLIENT_LOGIN: &str =
    "Identifiant : le nom du compte local ; mot de passe : celui du compte.";
pub const CLIENT_AUTOCONFIG: &str = "Configuration automatique";
pub const CLIENT_OUTBOX: &str = "Dossier où déposer les documents à envoyer";
pub const CLIENT_NO_OUTBOX: &str = "Aucun dossier de dépôt n’est configuré sur ce boîtier.";
pub const WIZARD_FINISH: &str = "Terminer et aller au tableau de bord";
pub const SETTINGS_INTRO: &str = "Les réglages modifiés ici s’appliquent après un redémarrage du service (quelques secondes). Avec une carte CPS, son code sera redemandé.";
pub const SETTINGS_SAVE: &str = "Enregistrer et redémarrer le service";
pub const SETTINGS_UNCHANGED: &str = "Aucun réglage n’a changé.";
pub const SETTINGS_GROUP_MAILBOX: &str = "Messagerie MSSanté";
pub const SETTINGS_GROUP_OPERATOR: &str = "Opérateur";
pub const SETTINGS_GROUP_INBOUND: &str = "Réception";
pub const SETTINGS_GROUP_PAPER: &str = "Courrier papier";
pub const SETTINGS_GROUP_LAN: &str = "Réseau du cabinet";
pub const SETTINGS_GROUP_SUPPORT: &str = "Assistance";
pub const SETTINGS_LIST_HINT: &str = "Une valeur par ligne.";
pub const CERTIFICATE_TITLE: &str = "Certificat de la boîte aux lettres";
pub const CERTIFICATE_INTRO: &str = "Avant l’expiration du certificat logiciel, chargez ici le nouveau fichier .p12 remis par l’ANS ou votre opérateur.";
pub const CERTIFICATE_CURRENT: &str = "Certificat en service";
pub const CERTIFICATE_END: &str = "Fin de validité";
pub const CERTIFICATE_RENEW: &str = "Remplacer le certificat";
pub const CERTIFICATE_CARD: &str = "Cette boîte aux lettres utilise la carte CPS : le certificat est celui de la carte. À son renouvellement, insérez simplement la nouvelle carte.";
pub const RESTART_TITLE: &str = "Redémarrer le service";
pub const RESTART_INTRO: &str = "Arrête proprement le service de messagerie et le relance ; aucun message n’est perdu. Avec une carte CPS, son code sera redemandé.";
pub const RESTART_SUBMIT: &str = "Redémarrer le service";
pub const CHECK_UPDATE: &str = "Version et mises à jour";

pub fn update_not_managed(version: &str) -> String {
    format!("Version {version}. Mises à jour à distance non configurées sur ce boîtier.")
}

/// The dashboard's update line: the version and what the updater does.
pub fn update_line(version: &str, state: &str) -> String {
    format!(
        "Version {version} : {}.",
        update_state(state).to_lowercase()
    )
}

/// The last update failed; the box runs its current version.
pub fn update_failed_line(version: &str, reason: &str) -> String {
    format!(
        "Version {version}. La dernière mise à jour a échoué ({reason}) ; le boîtier fonctionne sur sa version actuelle."
    )
}

pub const RECEIVED_TITLE: &str = "Derniers messages reçus";
pub const RECEIVED_NOTHING: &str = "Aucun message reçu pour l’instant.";
pub const COL_RECEIVED_AT: &str = "Reçu le";
pub const COL_FROM: &str = "Expéditeur";
pub const COL_IMPORT_FOLDER: &str = "Dossier d’import";
pub const COL_FILES: &str = "Pièces";

pub fn received_files(files: u32) -> String {
    match files {
        0 => "aucune pièce".into(),
        1 => "1 fichier".into(),
        n => format!("{n} fichiers"),
    }
}

pub fn received_files_with_problems(files: u32, problems: u32) -> String {
    let problems = if problems == 1 {
        "1 problème".to_string()
    } else {
        format!("{problems} problèmes")
    };
    format!("{}, {problems} (voir le dossier)", received_files(files))
}

pub const BACKUP_TITLE: &str = "Sauvegarde et restauration";
pub const BACKUP_INTRO: &str = "La sauvegarde contient les réglages du boîtier, les comptes locaux, le certificat logiciel (s’il y en a un) et le carnet d’adresses ; jamais les messages ni les données des patients. Elle est chiffrée avec le mot de passe d’administration : gardez-la avec ce mot de passe, sur une clé USB rangée au cabinet par exemple.";
pub const BACKUP_DOWNLOAD_LEGEND: &str = "Télécharger une sauvegarde";
pub const BACKUP_PASSWORD_LABEL: &str = "Mot de passe d’administration (pour confirmer)";
pub const BACKUP_DOWNLOAD: &str = "Télécharger la sauvegarde";
pub const RESTORE_LEGEND: &str = "Restaurer une sauvegarde";
pub const RESTORE_INTRO: &str = "Sur un boîtier de remplacement, ou après une erreur de réglage : les réglages, comptes, certificat et carnet d’adresses actuels sont remplacés par ceux de la sauvegarde, puis le service redémarre.";
pub const RESTORE_FILE_LABEL: &str = "Fichier de sauvegarde (.fcb)";
pub const RESTORE_PASSWORD_LABEL: &str = "Mot de passe d’administration au moment de la sauvegarde";
pub const RESTORE_PASSWORD_HINT: &str =
    "C’est le mot de passe du boîtier sauvegardé, qui peut différer de celui de ce boîtier.";
pub const RESTORE_SUBMIT: &str = "Restaurer et redémarrer le service";
pub const RESTORE_NEEDED: &str =
    "Choisissez le fichier de sauvegarde et saisissez son mot de passe.";
pub const RESTORE_NOT_A_BACKUP: &str = "Ce fichier n’est pas une sauvegarde Facteur (.fcb).";
pub const RESTORE_UNKNOWN_VERSION: &str = "Cette sauvegarde vient d’une version plus récente de Facteur : mettez d’abord ce boîtier à jour.";
pub const RESTORE_WRONG_PASSWORD: &str =
    "Mot de passe incorrect, ou fichier abîmé (modifié ou incomplet). Rien n’a été changé.";
pub const RESTORE_TOO_LARGE: &str = "Fichier trop volumineux pour être une sauvegarde Facteur.";
pub const WIZARD_RESTORE: &str = "Boîtier de remplacement ? Restaurer une sauvegarde";

pub fn restore_refused(reason: &str) -> String {
    format!("La sauvegarde n’a pas été restaurée, rien n’a été changé : {reason}")
}

pub const NETWORK_TITLE: &str = "Réseau";
pub const NETWORK_NOT_MANAGED: &str =
    "Le réseau de ce boîtier est réglé par l’installateur : il ne se modifie pas ici.";
pub const NETWORK_CURRENT: &str = "Réglage actuel";
pub const NETWORK_DEFAULT: &str = "réglage d’usine de l’installateur";
pub const NETWORK_DHCP: &str = "Automatique (DHCP, adresse donnée par la box du cabinet)";
pub const NETWORK_STATIC: &str = "Adresse fixe";
pub const NETWORK_MODE_LEGEND: &str = "Adresse du boîtier sur le réseau du cabinet";
pub const NETWORK_ADDRESS: &str = "Adresse IP (par exemple 192.168.1.20)";
pub const NETWORK_PREFIX: &str = "Longueur du préfixe (24 pour un masque 255.255.255.0)";
pub const NETWORK_GATEWAY: &str = "Passerelle (l’adresse de la box, par exemple 192.168.1.1)";
pub const NETWORK_DNS: &str = "Serveurs DNS (un à trois, un par ligne)";
pub const NETWORK_INTRO: &str = "Après l’enregistrement, le boîtier applique le réglage et attend votre confirmation depuis sa nouvelle adresse. Sans confirmation dans le délai, l’ancien réglage revient tout seul : une erreur ne peut pas rendre le boîtier injoignable.";
pub const NETWORK_SUBMIT: &str = "Appliquer (avec retour automatique)";
pub const NETWORK_BAD_FIELD: &str = "Réglage réseau incomplet ou mal écrit : vérifiez l’adresse, le préfixe, la passerelle et les serveurs DNS.";
pub const NETWORK_PENDING: &str = "Un changement attend déjà sa confirmation.";
pub const NETWORK_CONFIRM_TITLE: &str = "Confirmer le réglage réseau";
pub const NETWORK_CONFIRM_SUBMIT: &str = "Confirmer : garder ce réglage";
pub const NETWORK_CONFIRMED: &str = "Réglage réseau confirmé : il est conservé.";
pub const NETWORK_EXPIRED: &str = "Ce changement n’attend plus de confirmation (délai dépassé ou déjà confirmé). Si le délai est dépassé, l’ancien réglage est revenu.";
pub const NETWORK_DHCP_NOTE: &str = "En DHCP, l’adresse est choisie par la box du cabinet : ouvrez https://facteur.local/ (ou l’adresse indiquée par la box), reconnectez-vous et confirmez dans « Réglages », « Réseau ».";
pub const NETWORK_OPEN_NEW: &str =
    "Si cette page ne répond plus, ouvrez la nouvelle adresse, reconnectez-vous et confirmez :";

pub fn network_wait(seconds: i64) -> String {
    format!(
        "Le nouveau réglage est appliqué. Ouvrez le boîtier à sa nouvelle adresse et confirmez dans les {seconds} secondes ; sinon l’ancien réglage revient tout seul."
    )
}

pub fn network_invalid(reason: &str) -> String {
    format!("Réglage refusé : {reason}.")
}

pub const SENT_DOCUMENT: &str = "Document envoyé";
pub const DOWNLOAD_DOCUMENT: &str = "Télécharger (PDF)";
pub const DOCUMENT_GONE: &str = "Le document n’est plus dans le dossier « sent » des documents envoyés (déplacé ou supprimé depuis).";
pub const SETTING_REFUSED: &str = "valeur refusée";
pub const SETTING_NOT_A_NUMBER: &str = "un nombre entier est attendu.";
pub const UPLOAD_TOO_LARGE: &str =
    "Fichier trop volumineux : un certificat .p12 fait quelques kilo-octets.";

/// A sentence for a refusal of the daemon's settings endpoints.
pub fn settings_refusal(code: &str) -> Option<&'static str> {
    Some(match code {
        "pkcs12_wrong_password" => {
            "Mot de passe du certificat incorrect. Vérifiez-le (majuscules, espaces) et recommencez."
        }
        "pkcs12_damaged" => {
            "Ce fichier n’est pas un certificat .p12 lisible : il est peut-être incomplet. Demandez un nouvel exemplaire à votre opérateur."
        }
        "pkcs12_no_key" => {
            "Ce fichier contient un certificat sans sa clé privée : il faut le fichier .p12 complet, tel que remis à l’ouverture."
        }
        "pkcs12_unusable" => {
            "Ce certificat ne peut pas servir à la messagerie (clé ou certificat inutilisable). Contactez votre opérateur."
        }
        "pkcs12_too_large" => UPLOAD_TOO_LARGE,
        "certificate_expired" => {
            "Ce certificat a expiré. Demandez son renouvellement à l’ANS ou à votre opérateur."
        }
        "bad_user" => {
            "Nom de compte refusé : lettres minuscules sans accent, chiffres, point, tiret ou souligné, 64 caractères au plus."
        }
        "weak_password" => "Mot de passe trop court : il faut au moins 12 caractères.",
        "too_many_accounts" => "Nombre maximal de comptes locaux atteint (32).",
        "no_such_account" => "Ce compte n’existe pas (ou plus).",
        "no_such_operator" => "Cet opérateur ne figure plus dans la liste. Rechargez la page.",
        "not_editable" => "Ce réglage ne se modifie pas ici.",
        "not_configured" => "Le boîtier n’est pas encore mis en service.",
        "document_gone" => DOCUMENT_GONE,
        "no_document" => {
            "Aucun document n’a été conservé pour ce message : seuls les documents déposés dans le dossier d’envoi le sont."
        }
        "settings_unavailable" => {
            "Les réglages n’ont pas pu être enregistrés. Réessayez ; si le problème persiste, contactez votre installateur."
        }
        _ => return None,
    })
}

/// A setting's name as the practice reads it.
pub fn setting_label(key: &str) -> &'static str {
    match key {
        "mssante.mailbox" => MAILBOX_LABEL,
        "upstream.host" => MANUAL_SMTP_HOST,
        "upstream.port" => MANUAL_SMTP_PORT,
        "upstream.tls" => "Sécurité de l’envoi (starttls ou implicit)",
        "upstream.server_name" => "Nom du certificat de l’opérateur",
        "upstream.imap_host" => MANUAL_IMAP_HOST,
        "upstream.imap_port" => MANUAL_IMAP_PORT,
        "upstream.imap_tls" => "Sécurité de la réception (starttls ou implicit)",
        "smtp.trusted_networks" => "Postes autorisés sans mot de passe (adresses réseau)",
        "queue.lifetime_hours" => "Durée d’essai d’envoi avant abandon (heures)",
        "inbound.poll_interval" => "Intervalle de relève du courrier (secondes)",
        "inbound.delete_after_export" => "Supprimer chez l’opérateur après import",
        "inbound.send_receipts" => "Envoyer les accusés de lecture demandés",
        "inbound.receipt_timeout_hours" => "Délai d’attente des accusés (heures)",
        "paper.practice_name" => "Nom du cabinet (en-tête des lettres)",
        "paper.practitioner" => "Praticien signataire",
        "paper.specialty" => "Spécialité",
        "paper.address_lines" => "Adresse du cabinet",
        "paper.postcode" => "Code postal",
        "paper.town" => "Ville",
        "paper.phone" => "Téléphone",
        "paper.email" => "Adresse de réponse",
        "paper.rpps" => "Numéro RPPS",
        "paper.printer" => "Imprimante (adresse IPP)",
        "log.level" => "Niveau de détail des journaux techniques",
        _ => "Réglage",
    }
}

/// What to do when the connection test failed, by the daemon's code.
pub fn connection_advice(code: &str) -> &'static str {
    match code {
        "no_reader" => {
            "Le lecteur de carte n’est pas détecté. Vérifiez qu’il est branché sur le boîtier."
        }
        "no_card" => "Aucune carte dans le lecteur. Insérez votre carte CPS.",
        "not_cps" => {
            "La carte insérée n’est pas une carte CPS. Insérez votre carte de professionnel de santé."
        }
        "card_error" => {
            "La carte ne répond pas correctement. Retirez-la, nettoyez la puce et réinsérez-la."
        }
        "card_locked" => "La carte est verrouillée : saisissez son code à l’étape « Carte CPS ».",
        "card_blocked" => {
            "La carte est bloquée après trois codes faux. Seul votre organisme (guichet CPS) peut la débloquer avec le code PUK."
        }
        "certificate_expired" => {
            "Le certificat de la carte ou du fichier a expiré. Demandez-en le renouvellement à l’ANS."
        }
        "credential_unavailable" => {
            "La carte ou le certificat ne peut pas signer en ce moment. Vérifiez que la carte est insérée et déverrouillée."
        }
        "operator_not_found" => {
            "Le serveur de l’opérateur est introuvable. Vérifiez l’adresse de messagerie ou les réglages de l’opérateur, et que le boîtier accède à Internet."
        }
        "operator_unreachable" => {
            "Le serveur de l’opérateur ne répond pas. Vérifiez la connexion Internet du cabinet (box, câble) ; si elle fonctionne, l’opérateur est peut-être en maintenance : réessayez plus tard."
        }
        "operator_timeout" => "L’opérateur répond trop lentement. Réessayez dans quelques minutes.",
        "operator_certificate_untrusted" => {
            "Le serveur joint n’a pas présenté de certificat de l’espace de confiance MSSanté. Vérifiez les réglages de l’opérateur : ce n’est peut-être pas le bon serveur."
        }
        "certificate_refused" => {
            "L’opérateur a refusé votre carte ou votre certificat. Vérifiez que votre boîte aux lettres est bien ouverte chez cet opérateur pour cette carte ou ce certificat."
        }
        "authentication_refused" => {
            "L’opérateur a refusé l’accès à la boîte aux lettres. Vérifiez l’adresse de messagerie et que la boîte est ouverte chez lui."
        }
        "operator_refused" => {
            "L’opérateur a refusé la connexion. Contactez son assistance en indiquant l’heure du test."
        }
        "operator_without_starttls" => {
            "Ce serveur ne propose pas de connexion chiffrée : ce n’est pas un serveur MSSanté. Vérifiez les réglages de l’opérateur."
        }
        _ => {
            "La connexion a échoué. Vérifiez les réglages de l’opérateur ; si le problème persiste, téléchargez le paquet d’assistance pour votre installateur."
        }
    }
}

// Address book, health directory, paper report
pub const CONTACTS_TITLE: &str = "Carnet d’adresses";
pub const CONTACTS_INTRO: &str = "Les correspondants du cabinet. Chacun a un dossier de dépôt dans le dossier des documents à envoyer : un PDF déposé dans ce dossier part vers ce correspondant (par MSSanté, ou sur papier s’il n’a pas d’adresse MSSanté).";
pub const CONTACTS_CAPTION: &str = "Correspondants (par nom)";
pub const CONTACTS_NOTHING: &str = "Le carnet est vide. Ajoutez un correspondant depuis l’annuaire santé ou avec le formulaire ci-dessous.";
pub const COL_NAME: &str = "Nom";
pub const COL_PROFESSION: &str = "Profession ou spécialité";
pub const COL_TOWN: &str = "Ville";
pub const COL_MSSANTE: &str = "Adresse MSSanté";
pub const COL_FOLDER: &str = "Dossier de dépôt";
pub const ON_PAPER: &str = "Pas d’adresse MSSanté : envoi sur papier";
pub const CONTACT_REMOVE: &str = "Retirer";
pub const CONTACT_ADD_TITLE: &str = "Ajouter un correspondant à la main";
pub const CONTACT_ADD_HINT: &str = "Une adresse MSSanté, ou à défaut une adresse postale complète (rue, code postal, ville) pour l’envoi sur papier. Pour un professionnel inscrit à l’annuaire santé, passez plutôt par l’annuaire : tout est rempli pour vous.";
pub const CONTACT_NAME_LABEL: &str = "Nom (par exemple Dr MARTIN Paul)";
pub const CONTACT_MSSANTE_LABEL: &str = "Adresse MSSanté";
pub const CONTACT_PROFESSION_LABEL: &str = "Profession ou spécialité";
pub const CONTACT_STREET_LABEL: &str = "Adresse postale (rue)";
pub const CONTACT_POSTCODE_LABEL: &str = "Code postal";
pub const CONTACT_TOWN_LABEL: &str = "Ville";
pub const CONTACT_ADD_SUBMIT: &str = "Ajouter au carnet";
pub const CONTACTS_UNAVAILABLE: &str =
    "Le carnet d’adresses est illisible sur le boîtier. Contactez votre installateur.";
pub const NO_SUCH_CONTACT: &str = "Ce correspondant n’est pas (ou plus) dans le carnet.";
pub const NOT_IN_DIRECTORY: &str = "Cette adresse n’est pas dans l’annuaire santé.";
pub const BAD_CONTACT_ID: &str = "Numéro de correspondant incorrect.";
pub const BAD_CONTACT_FORM: &str = "Formulaire incorrect : le nom (200 caractères au plus) est obligatoire, l’adresse MSSanté doit être une adresse de messagerie, et aucun champ ne doit contenir de caractère invisible.";
pub const REMOVE_TITLE: &str = "Retirer un correspondant";
pub const REMOVE_WARNING: &str = "Le correspondant sera retiré du carnet. Son dossier de dépôt reste en place avec ce qu’il contient, mais les documents qui y seront déposés ne lui seront plus envoyés.";
pub const REMOVE_CONFIRM_LABEL: &str = "Je confirme vouloir retirer ce correspondant du carnet";
pub const REMOVE_SUBMIT: &str = "Retirer du carnet";
pub const REMOVE_NOT_CONFIRMED: &str =
    "Cochez la case de confirmation pour retirer ce correspondant.";
pub const CANCEL: &str = "Annuler";

pub fn contact_added(name: &str, folder: &str) -> String {
    format!("{name} a été ajouté au carnet. Son dossier de dépôt : « {folder} ».")
}

pub fn contact_removed(name: &str) -> String {
    format!("{name} a été retiré du carnet.")
}

pub const DIRECTORY_TITLE: &str = "Annuaire santé";
pub const DIRECTORY_SEARCH_LABEL: &str = "Nom, profession, ville ou n° RPPS";
pub const DIRECTORY_SEARCH_HINT: &str = "Chaque mot doit être le début d’un mot de la fiche : « martin niort », « cardio poitiers », « 10001234567 ». Majuscules et accents sont ignorés.";
pub const DIRECTORY_CAPTION: &str = "Résultats de l’annuaire";
pub const DIRECTORY_NOTHING: &str = "Aucune fiche ne correspond à cette recherche.";
pub const COL_SPECIALTY: &str = "Spécialité";
pub const COL_ADD: &str = "Carnet";
pub const ALREADY_IN_BOOK: &str = "Déjà dans le carnet";
pub const DIRECTORY_UNAVAILABLE: &str =
    "L’annuaire santé est illisible sur le boîtier. Contactez votre installateur.";
pub const DIRECTORY_NOT_IMPORTED: &str = "L’annuaire santé n’a pas encore été importé sur ce boîtier : la recherche ne trouvera rien. Votre installateur l’importe avec la commande « facteur directory import » à partir du fichier public Extraction_Correspondance_MSSante de l’Annuaire Santé (annuaire.sante.fr), puis le tient à jour en la relançant régulièrement.";
pub const BAD_DIRECTORY_SEARCH: &str =
    "Recherche incorrecte : 200 caractères au plus, sans caractère invisible.";

pub fn directory_status(entries: u64, imported: &str) -> String {
    match entries {
        0 | 1 => format!("Annuaire importé le {imported} : {entries} boîte aux lettres MSSanté."),
        n => format!("Annuaire importé le {imported} : {n} boîtes aux lettres MSSanté."),
    }
}

pub fn directory_count(n: usize, limit: usize) -> String {
    match n {
        1 => "1 fiche trouvée.".into(),
        n if n >= limit => {
            format!("{n} fiches affichées : précisez la recherche pour voir les autres.")
        }
        n => format!("{n} fiches trouvées."),
    }
}

pub fn add_to_book_for(name: &str) -> String {
    format!("Ajouter au carnet : {name}")
}

pub const PAPER_TITLE: &str = "Courrier papier";
pub const PAPER_INTRO: &str = "Les correspondants à qui le cabinet a dû envoyer des documents sur papier, faute d’adresse MSSanté, les plus fréquents d’abord. Invitez-les à rejoindre MSSanté : la lettre d’invitation est prête à imprimer.";
pub const PAPER_MONTH_LABEL: &str = "Mois";
pub const PAPER_MONTH_SUBMIT: &str = "Afficher";
pub const PAPER_PREVIOUS: &str = "Mois précédent";
pub const PAPER_NEXT: &str = "Mois suivant";
pub const PAPER_CAPTION: &str = "Correspondants joints sur papier";
pub const COL_ADDRESS: &str = "Adresse postale";
pub const COL_LETTERS: &str = "Envois papier";
pub const COL_LAST_LETTER: &str = "Dernier envoi";
pub const COL_INVITATION: &str = "Invitation à MSSanté";
pub const INVITATION_LINK: &str = "Télécharger la lettre (PDF)";
pub const PAPER_NOT_CONFIGURED: &str = "L’envoi sur papier n’est pas configuré sur ce boîtier (réglages « paper » : en-tête du cabinet, dossier à imprimer) : aucun courrier papier n’est préparé, et les lettres d’invitation ne peuvent pas être faites. Votre installateur peut le configurer.";
pub const NO_SUCH_PAPER_CORRESPONDENT: &str =
    "Aucun courrier papier n’a été envoyé à ce correspondant.";
pub const BAD_MONTH: &str = "Mois incorrect : utilisez le format AAAA-MM.";
pub const BAD_PAPER_KEY: &str = "Correspondant incorrect.";
pub const INVITATION_FAILED: &str = "La lettre d’invitation n’a pas pu être préparée.";

pub fn paper_nothing(month: &str) -> String {
    format!("Aucun document envoyé sur papier en {month}.")
}

/// "2026-11" → "novembre 2026".
pub fn month_label(month: &str) -> String {
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    match month.split_once('-') {
        Some((y, m)) => match m.parse::<usize>() {
            Ok(n @ 1..=12) => format!("{} {y}", MONTHS[n - 1]),
            _ => month.to_string(),
        },
        None => month.to_string(),
    }
}

pub fn invitation_for(name: &str) -> String {
    format!("Télécharger la lettre (PDF) : invitation de {name} à MSSanté")
}

// Tracking: patient
pub const COL_PATIENT: &str = "Patient";
pub const PATIENT: &str = "Patient";

pub fn patient_with_ins(label: &str, ins: Option<&str>) -> String {
    match ins {
        Some(ins) => format!("{label} (INS {ins})"),
        None => label.to_string(),
    }
}

// -- system updates -------------------------------------------------------------

pub const NAV_UPDATE: &str = "Mise à jour";
pub const UPDATE_TITLE: &str = "Mise à jour du boîtier";
pub const UPDATES_DISABLED: &str = "Les mises à jour ne sont pas activées sur ce boîtier.";
pub const UPDATE_RUNNING_VERSION: &str = "Version en service";
pub const UPDATE_STATE: &str = "État";
pub const UPDATE_FLEET: &str = "Mises à jour automatiques";
pub const UPDATE_FLEET_ON: &str = "Oui, par le groupement régional";
pub const UPDATE_FLEET_OFF: &str = "Non (mise à jour manuelle seulement)";
pub const UPDATE_FLEET_ERROR: &str = "Dernier problème avec le serveur de mises à jour";
pub const UPDATE_LAST: &str = "Dernière mise à jour";
pub const UPDATE_CHECK: &str = "Rechercher une mise à jour maintenant";
pub const UPDATE_CHECK_ASKED: &str =
    "Recherche demandée : le résultat s’affiche ici dans quelques instants.";
pub const UPDATE_MANUAL_LEGEND: &str = "Mise à jour manuelle";
pub const UPDATE_MANUAL_INTRO: &str = "Si votre installateur vous a remis un fichier de mise à jour (.raucb), choisissez-le ici. Le boîtier vérifie sa signature avant de l’installer ; la version en service reste intacte si le fichier est refusé. Le boîtier redémarre ensuite de lui-même quand aucun message n’est en cours d’envoi.";
pub const UPDATE_FILE_LABEL: &str = "Fichier de mise à jour";
pub const UPDATE_SUBMIT: &str = "Installer ce fichier";
pub const UPDATE_NO_FILE: &str = "Choisissez un fichier de mise à jour.";
pub const UPDATE_FILE_FIRST: &str = "Formulaire incomplet : rechargez la page et recommencez.";

/// The updater's state in words.
pub fn update_state(state: &str) -> &'static str {
    match state {
        "idle" => "À jour, rien en cours",
        "downloading" => "Téléchargement d’une mise à jour",
        "waiting_window" => "Mise à jour téléchargée, en attente de la plage de maintenance",
        "installing" => "Installation en cours",
        "waiting_restart" => {
            "Installée : le boîtier redémarrera dès qu’aucun message n’est en cours"
        }
        "restarting" => "Redémarrage en cours",
        "checking" => "Vérification de la nouvelle version",
        _ => "Inconnu",
    }
}

pub fn update_installed(version: &str) -> String {
    format!(
        "Version {version} installée. Le boîtier redémarrera de lui-même dès qu’aucun message n’est en cours d’envoi."
    )
}

// -- Pro Santé Connect ----------------------------------------------------------

pub const NAV_PSC: &str = "Pro Santé Connect";
pub const PSC_TITLE: &str = "Pro Santé Connect";
pub const PSC_INTRO: &str = "Pro Santé Connect est le service national qui identifie les professionnels de santé. Le boîtier s’y connecte au nom du praticien pour envoyer et recevoir ses messages MSSanté ; tant qu’il n’est pas connecté, les messages attendent dans le boîtier.";
pub const PSC_NOT_USED: &str = "Ce boîtier ne se connecte pas avec Pro Santé Connect : il utilise une carte CPS ou un certificat logiciel.";
pub const PSC_STATE: &str = "État";
pub const PSC_METHOD: &str = "Connexion";
pub const PSC_BY_CARD: &str = "avec la carte CPS du lecteur";
pub const PSC_BY_ECPS: &str = "avec l’application e-CPS";
pub const PSC_NATIONAL_ID: &str = "Identifiant national du praticien";
pub const PSC_CONNECTED_SINCE: &str = "Connecté depuis";
pub const PSC_SESSION_END: &str = "Fin de la session";
pub const PSC_RENEWAL: &str = "Renouvellement de l’accès";
pub const PSC_LAST_ERROR: &str = "Dernière erreur";
pub const PSC_LOGIN: &str = "Se connecter";
pub const PSC_LOGIN_AGAIN: &str = "Envoyer une nouvelle demande";
pub const PSC_ID_HINT: &str = "8 suivi du numéro RPPS, chiffres uniquement (par exemple 899700000001). La demande arrive dans l’application e-CPS de ce praticien.";
pub const PSC_CARD_HINT: &str = "Le boîtier se connecte tout seul dès que la carte CPS est dans le lecteur et déverrouillée (page « Carte CPS ») ; ce bouton relance la connexion tout de suite.";
pub const PSC_APPROVAL_LEFT: &str = "Temps pour valider :";
pub const PSC_FOLLOWING: &str =
    "Le résultat s’affiche ici dès que la demande est validée ou refusée.";
pub const PSC_RELOAD: &str = "Actualiser la page";
pub const PSC_CONNECTED: &str = "Connexion réussie : le boîtier est connecté à Pro Santé Connect.";
pub const PSC_LOGOUT: &str = "Se déconnecter de Pro Santé Connect";
pub const PSC_LOGOUT_TITLE: &str = "Se déconnecter de Pro Santé Connect";
pub const PSC_LOGOUT_WARNING: &str = "Après la déconnexion, le boîtier n’envoie plus de messages et n’en relève plus : ils attendent dans le boîtier jusqu’à la prochaine connexion du praticien.";
pub const PSC_LOGOUT_CONFIRM: &str = "Je confirme la déconnexion de Pro Santé Connect.";
pub const PSC_LOGOUT_NOT_CONFIRMED: &str =
    "Cochez la case de confirmation pour vous déconnecter de Pro Santé Connect.";
pub const PSC_LOGGED_OUT: &str =
    "Déconnecté de Pro Santé Connect : les messages attendent la prochaine connexion.";
pub const PSC_BAD_NATIONAL_ID: &str = "Identifiant national incorrect : saisissez 8 suivi du numéro RPPS, chiffres uniquement (par exemple 899700000001).";
pub const PSC_UNREACHABLE: &str = "Pro Santé Connect ne répond pas. Vérifiez la connexion Internet du cabinet, puis réessayez dans quelques minutes.";
pub const PSC_LOGIN_REFUSED: &str = "Pro Santé Connect a refusé la connexion. La raison est indiquée ci-dessous (« Dernière erreur ») : vérifiez l’identifiant du praticien ou la carte, puis réessayez.";
pub const PSC_RECONNECT_NEEDED: &str = "Reconnexion Pro Santé Connect nécessaire.";
pub const PSC_CARD_NOT_READY: &str = "La carte CPS n’est pas prête : insérez-la dans le lecteur du boîtier et saisissez son code (page « Carte CPS »), puis réessayez.";
pub const PSC_MODE_TITLE: &str = "Mode de connexion";
pub const PSC_MODE_LEGEND: &str = "Comment le boîtier se connecte au nom du praticien";
pub const PSC_MODE_CARD: &str = "Avec la carte CPS du lecteur (le boîtier se connecte seul)";
pub const PSC_MODE_CARD_HINT: &str =
    "La carte reste dans le lecteur du boîtier ; son code est demandé après chaque redémarrage.";
pub const PSC_MODE_ECPS: &str =
    "Avec l’application e-CPS sur le téléphone (à valider à chaque connexion)";
pub const PSC_MODE_ECPS_HINT: &str = "Chaque connexion envoie une demande sur le téléphone du praticien, à valider dans l’application e-CPS.";
pub const PSC_MODE_NATIONAL_ID: &str =
    "Identifiant national du praticien, pour l’application e-CPS";
pub const PSC_MODE_ID_HINT: &str = "8 suivi du numéro RPPS, chiffres uniquement (par exemple 899700000001). Il est proposé à chaque connexion ; laissé vide, il sera demandé à chaque fois.";
pub const PSC_MODE_SAVE: &str = "Enregistrer";
pub const PSC_MODE_RESTART: &str = "Pour appliquer ce choix, le service de messagerie redémarre (quelques secondes) ; le praticien devra ensuite se reconnecter à Pro Santé Connect.";
pub const PSC_MODE_CHOOSE: &str = "Choisissez comment le boîtier se connecte : avec la carte CPS du lecteur ou avec l’application e-CPS.";
pub const PSC_MODE_UNCHANGED: &str = "Le mode de connexion n’a pas changé.";
pub const PSC_MODE_NOT_AVAILABLE: &str = "Le mode de connexion ne peut pas être changé sur ce boîtier : son installateur ne l’a pas inscrit auprès de Pro Santé Connect. Contactez votre installateur.";

/// After the change and the restart, on « Pro Santé Connect ».
pub fn psc_mode_saved(ecps: bool) -> String {
    format!(
        "Mode de connexion enregistré : {}.",
        if ecps { PSC_BY_ECPS } else { PSC_BY_CARD }
    )
}

pub const CHECK_PSC: &str = "Pro Santé Connect";
pub const PSC_ALERT: &str = "Reconnexion Pro Santé Connect nécessaire";
pub const PSC_ALERT_PAUSED: &str =
    "Les envois et la relève du courrier attendent que le praticien se reconnecte.";
pub const PSC_ALERT_GO: &str = "Se reconnecter à Pro Santé Connect";
pub const PSC_ALERT_FOLLOW: &str = "Suivre la demande en cours";
pub const PSC_SEE: &str = "Voir la connexion";

/// What the practitioner does on the phone.
pub fn psc_approve_on_phone(binding_message: &str) -> String {
    format!(
        "Ouvrez l’application e-CPS sur votre téléphone et validez la demande « {binding_message} »."
    )
}

/// The dashboard's alert while a request waits on the phone.
pub fn psc_alert_waiting(binding_message: &str) -> String {
    format!(
        "Une demande attend sa validation dans l’application e-CPS du praticien : « {binding_message} »."
    )
}

pub fn psc_cause(reason: &str) -> String {
    format!("Cause : {reason}.")
}

/// A login that did not succeed (refused or expired on the phone).
pub fn psc_login_failed(reason: &str) -> String {
    format!("La connexion n’a pas abouti : {reason}.")
}

/// A new request that failed while the current session goes on.
pub fn psc_new_login_failed(reason: &str) -> String {
    format!("La nouvelle demande n’a pas abouti ({reason}) ; la connexion en cours continue.")
}

/// When the current access ends and is renewed, without anyone's help.
pub fn psc_renewal(before: &str, left: &str) -> String {
    format!("automatique, avant {before} ({left})")
}

/// « encore 2 h 10 min »: how long until something ends, as read on a
/// clock (seconds only when little is left).
pub fn time_left(seconds: i64) -> String {
    match seconds {
        s if s <= 0 => "délai écoulé".into(),
        s if s < 60 => format!("encore {s} s"),
        s if s < 600 && s % 60 != 0 => format!("encore {} min {} s", s / 60, s % 60),
        s if s < 3600 => format!("encore {} min", s / 60),
        s if s < 86_400 => match s % 3600 / 60 {
            0 => format!("encore {} h", s / 3600),
            m => format!("encore {} h {m} min", s / 3600),
        },
        s => {
            let days = match s / 86_400 {
                1 => "1 jour".to_string(),
                d => format!("{d} jours"),
            };
            match s % 86_400 / 3600 {
                0 => format!("encore {days}"),
                h => format!("encore {days} {h} h"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_like_a_clock() {
        assert_eq!(time_left(-5), "délai écoulé");
        assert_eq!(time_left(45), "encore 45 s");
        assert_eq!(time_left(105), "encore 1 min 45 s");
        assert_eq!(time_left(120), "encore 2 min");
        assert_eq!(time_left(25 * 60 + 59), "encore 25 min");
        assert_eq!(time_left(2 * 3600 + 10 * 60 + 30), "encore 2 h 10 min");
        assert_eq!(time_left(3 * 3600), "encore 3 h");
        assert_eq!(time_left(86_400 + 4 * 3600), "encore 1 jour 4 h");
        assert_eq!(time_left(3 * 86_400), "encore 3 jours");
    }
}

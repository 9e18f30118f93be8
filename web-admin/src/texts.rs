//! Every sentence the web admin shows, in French, in one place (an
//! English table can follow with the same names).

pub const APP_NAME: &str = "Facteur";
pub const SKIP_TO_CONTENT: &str = "Aller au contenu";

// Navigation
pub const NAV_DASHBOARD: &str = "Tableau de bord";
pub const NAV_CARD: &str = "Carte CPS";
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

package web

// messages is the catalog of every text of the UI: Swedish first, English second. The
// Swedish wording follows the municipalities' own portals (seeds in DESIGN.md).
var messages = map[string][2]string{
	// layout
	"app.name":      {"Behörig", "Behörig"},
	"app.tagline":   {"Behörig – e-tjänst för behörigheter", "Behörig – access requests"},
	"skip":          {"Hoppa till innehållet", "Skip to content"},
	"nav.main":      {"Huvudmeny", "Main menu"},
	"nav.account":   {"Konto", "Account"},
	"nav.start":     {"Mina ärenden", "My requests"},
	"nav.new":       {"Ny ansökan", "New request"},
	"nav.terminate": {"Uppsägning", "Termination"},
	"nav.approvals": {"Godkännandeöversikt", "Approval overview"},
	"nav.queue":     {"IT-kö", "IT queue"},
	"nav.admin":     {"Administration", "Administration"},
	"logout":        {"Logga ut", "Sign out"},
	"lang.switch":   {"In English", "På svenska"},

	// sign-in
	"login.title":         {"Logga in", "Sign in"},
	"login.signed_out":    {"Du är utloggad.", "You have signed out."},
	"login.intro":         {"Välj hur du vill logga in. Anställda loggar in med sitt AD-konto; chefer hos externa utförare med BankID.", "Choose how to sign in. Staff sign in with their AD account; managers at external care providers with BankID."},
	"login.unavailable":   {"(inte tillgänglig just nu)", "(not available right now)"},
	"signin.unknown_idp":  {"Okänt inloggningssätt", "Unknown sign-in method"},
	"signin.unknown_idp.": {"Det finns inget sådant inloggningssätt. Välj ett på inloggningssidan.", "There is no such sign-in method. Choose one on the sign-in page."},
	"signin.down":         {"Inloggningen är inte tillgänglig", "Sign-in is not available"},
	"signin.down.":        {"Inloggningstjänsten svarar inte just nu. Försök igen om en stund eller välj ett annat sätt att logga in.", "The sign-in service does not answer right now. Try again in a while or choose another way to sign in."},
	"signin.bad_state":    {"Inloggningen kunde inte slutföras", "The sign-in could not be completed"},
	"signin.bad_state.":   {"Inloggningen är okänd, redan använd, för gammal eller påbörjad i en annan webbläsare. Börja om.", "The sign-in is unknown, already used, too old or started in another browser. Start again."},
	"signin.cancelled":    {"Inloggningen avbröts", "The sign-in was cancelled"},
	"signin.cancelled.":   {"Inloggningstjänsten avbröt inloggningen. Börja om.", "The sign-in service cancelled the sign-in. Start again."},
	"signin.bad_claim":    {"Inloggningen godtogs inte", "The sign-in was not accepted"},
	"signin.bad_claim.":   {"Inloggningstjänsten skickade uppgifter som inte går att använda (till exempel ett ogiltigt personnummer). Kontakta IT.", "The sign-in service sent details that cannot be used (such as an invalid personnummer). Contact IT."},
	"signin.rejected":     {"Inloggningen kunde inte verifieras", "The sign-in could not be verified"},
	"signin.rejected.":    {"Svaret från inloggningstjänsten kunde inte verifieras. Börja om; kvarstår felet, kontakta IT.", "The answer from the sign-in service could not be verified. Start again; if it persists, contact IT."},
	"signin.unknown_user": {"Du är inte registrerad i Behörig", "You are not registered in Behörig"},
	"signin.unknown_user.": {"Inloggningen lyckades, men du finns inte som användare i Behörig. Be din kontaktperson på kommunen att lägga upp dig.",
		"You signed in, but you are not a user of Behörig. Ask your contact at the municipality to register you."},
	"signin.conflict":  {"Kontot är redan kopplat", "The account is already linked"},
	"signin.conflict.": {"Personnumret är kopplat till en annan inloggning. Kontakta IT.", "The personnummer is linked to another sign-in. Contact IT."},
	"error.title":      {"Något gick fel", "Something went wrong"},
	"error.text":       {"Felet är loggat. Försök igen om en stund.", "The error has been logged. Try again in a while."},
	"error.to_login":   {"Till inloggningen", "To the sign-in page"},
	"error.to_start":   {"Till startsidan", "To the start page"},
	"notfound.title":   {"Sidan finns inte", "Page not found"},
	"notfound.text":    {"Sidan finns inte, eller så har du inte behörighet att se den.", "The page does not exist, or you may not see it."},
	"forbidden.title":  {"Du saknar behörighet", "You are not allowed"},

	// home / me
	"home.welcome":    {"Välkommen, %s", "Welcome, %s"},
	"me.signed_in_as": {"Inloggad som", "Signed in as"},
	"me.roles":        {"Roller", "Roles"},
	"me.unit":         {"Enhet", "Unit"},
	"me.attests":      {"Attesträtt för", "Attests for"},
	"me.attests_none": {"inga enheter", "no units"},

	// roles
	"role.requester":  {"beställare", "requester"},
	"role.it_handler": {"IT-handläggare", "IT handler"},
	"role.it_admin":   {"IT-administratör", "IT administrator"},

	// statuses, as the portals word them
	"status.submitted":           {"Inskickad", "Submitted"},
	"status.awaiting_approval":   {"Väntar på godkännande", "Awaiting approval"},
	"status.rejected":            {"Avslagen", "Rejected"},
	"status.awaiting_user":       {"Väntar på användare", "Waiting for user"},
	"status.answered_by_user":    {"Besvarat av användaren", "Answered by user"},
	"status.assigned":            {"Tilldelad", "Assigned"},
	"status.in_progress":         {"Pågående", "In progress"},
	"status.waiting_third_party": {"Väntar på tredjepart", "Waiting for third party"},
	"status.scheduled":           {"Schemalagd", "Scheduled"},
	"status.completed":           {"Klar", "Completed"},
	"status.cancelled":           {"Makulerad", "Cancelled"},
}

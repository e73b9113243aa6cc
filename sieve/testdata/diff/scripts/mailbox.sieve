require ["mailbox", "fileinto"];
if mailboxexists "INBOX" { fileinto :create "Created"; }
if mailboxexists ["INBOX", "Nope"] { fileinto "both"; }

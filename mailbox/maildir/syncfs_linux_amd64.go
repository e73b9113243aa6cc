package maildir

const sysSyncfs = 306

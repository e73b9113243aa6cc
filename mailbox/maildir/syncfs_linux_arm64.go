package maildir

const sysSyncfs = 267

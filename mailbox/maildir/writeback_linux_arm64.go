package maildir

const sysSyncFileRange = 84

package maildir

const sysSyncFileRange = 277

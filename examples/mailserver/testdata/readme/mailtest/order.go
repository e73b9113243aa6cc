// Package order stands for an application that sends mail, to show the
// README's mailtest example compiling.
package order

import "net/smtp"

func sendOrderConfirmation(addr, to string) error {
	return smtp.SendMail(addr, nil, "shop@example.com", []string{to},
		[]byte("To: "+to+"\r\nSubject: Your order\r\n\r\nOrder 1234 has shipped.\r\n"))
}

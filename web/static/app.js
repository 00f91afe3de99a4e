// The back button may show a page kept from before (its cart badge, account, order status as
// they were then, whatever Cache-Control says): show it as it is now.
addEventListener("pageshow", (event) => {
  if (event.persisted) location.reload();
});
